// The HTTP side of the audit history on a real app (PGlite, embedded Redis, the real auth guard): one outcome
// event per mutating request whoever answered it, and a `started` event committed before the handler of
// each allowed one; the read API (list, export, verify), redaction, failed writes.

import { mkdtemp, rm } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  type AuditEventView,
  type AuditPage,
  type AuditVerifyResult,
  auditEventSchema,
  auditPageSchema,
  auditVerifySchema,
} from "@ebb/contracts";
import { EbbError } from "@ebb/core";
import { freePort, waitFor } from "@ebb/testkit";
import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  type INestApplication,
  type LoggerService,
  Module,
  Param,
  Post,
  Req,
} from "@nestjs/common";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { type TestDatabase, testDatabases } from "../../test-support/database.js";
import { bootstrap, type RunningApp } from "../app/bootstrap.js";
import { featureModules } from "../app/features.js";
import { Access } from "../auth/access.js";
import { parseConfig } from "../config/config.js";
import { AuditService, VERIFY_WALKS_PER_MINUTE } from "./audit.service.js";
import { clientIpOf, noteAudit, outcomeOf } from "./audit-http.js";

const HOST = "127.0.66.1";
const ADMIN = "audit-http-test-admin-token-0123456789";
const SSH_KEY =
  "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----";
const KUBECONFIG =
  "apiVersion: v1\nkind: Config\nusers:\n- name: admin\n  user:\n    client-key-data: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQ==\n";

/** The slow route's handler waits for this; the test releases it once its client has gone. */
const slow = { started: false, release: () => {} };

const widgetBody = z.strictObject({
  fleet: z.string().optional(),
  name: z.string().min(1),
  password: z.string().optional(),
  params: z.record(z.string(), z.string()).optional(),
  config: z.string().optional(),
});

@Controller("audit-widgets")
class WidgetsController {
  @Get()
  @Access("read")
  list(): unknown[] {
    return [];
  }

  @Post()
  @Access("deploy")
  @HttpCode(201)
  create(@Body({ schema: widgetBody }) body: z.infer<typeof widgetBody>): unknown {
    // A response that carries a secret (as a new API token does) and ids.
    return { id: `w-${body.name}`, status: "created", secretValue: "shown-once-never-audited" };
  }

  @Post(":id/poke")
  @Access("deploy")
  poke(@Param("id") id: string): unknown {
    throw new EbbError("conflict", `widget ${id} is busy`);
  }

  @Delete(":id")
  @Access("admin")
  @HttpCode(204)
  remove(): void {}

  @Post("boom")
  @Access("deploy")
  boom(): unknown {
    throw new Error("a bug");
  }

  @Post("noted")
  @Access("deploy")
  noted(@Req() req: IncomingMessage): unknown {
    noteAudit(req, {
      resourceType: "gadget",
      resourceId: "g-9",
      fleet: "noted-fleet",
      summary: { extra: 1 },
    });
    return { ok: true };
  }

  @Post("slow")
  @Access("deploy")
  async slow(): Promise<unknown> {
    slow.started = true;
    await new Promise<void>((resolve) => {
      slow.release = resolve;
    });
    return { id: "slow-1", status: "done" };
  }
}

@Module({ controllers: [WidgetsController] })
class WidgetsModule {}

class LinesLogger implements LoggerService {
  readonly lines: string[] = [];
  log(message: unknown): void {
    this.lines.push(String(message));
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.lines.push([message, ...rest].map(String).join(" "));
  }
  warn(message: unknown): void {
    this.lines.push(String(message));
  }
  debug(): void {}
  verbose(): void {}
}

let running: RunningApp;
let database: TestDatabase;
let dataDir: string;
let apiUrl: string;
let logger: LinesLogger;
let readToken: string;
let deployToken: string;

interface Call {
  status: number;
  text: string;
  requestId: string;
}

let counter = 0;
async function call(
  method: string,
  route: string,
  opts: { body?: unknown; raw?: string; token?: string | null; headers?: Record<string, string> } = {},
): Promise<Call> {
  const requestId = `audit-http-${++counter}-${Date.now()}`;
  const token = opts.token === undefined ? ADMIN : opts.token;
  const res = await fetch(`${apiUrl}${route}`, {
    method,
    signal: AbortSignal.timeout(15_000),
    headers: {
      "x-request-id": requestId,
      "user-agent": "audit-http-test/1.0",
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      ...(opts.body !== undefined || opts.raw !== undefined ? { "content-type": "application/json" } : {}),
      ...opts.headers,
    },
    ...(opts.raw !== undefined
      ? { body: opts.raw }
      : opts.body !== undefined
        ? { body: JSON.stringify(opts.body) }
        : {}),
  });
  return { status: res.status, text: await res.text(), requestId };
}

async function eventsOf(requestId: string): Promise<AuditEventView[]> {
  const page = await call("GET", `/audit?limit=500`);
  const { items } = auditPageSchema.parse(JSON.parse(page.text));
  return items.filter((e) => e.requestId === requestId);
}

/** The one outcome event of a request, once it is written (after the response: wait, with a deadline). */
async function eventOf(requestId: string): Promise<AuditEventView> {
  return waitFor(
    async () => {
      const events = (await eventsOf(requestId)).filter((e) => e.outcome !== "started");
      if (events.length > 1) throw new Error(`${events.length} events for request ${requestId}`);
      return events[0];
    },
    { timeoutMs: 10_000, what: `the audit event of request ${requestId}` },
  );
}

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), "ebb-audit-http-"));
  database = await testDatabases()
    .find((v) => v.kind === "pglite")!
    .open();
  logger = new LinesLogger();
  const config = parseConfig(
    {
      EBB_ROLE: "api",
      EBB_API_HOST: HOST,
      EBB_API_PORT: String(await freePort(HOST)),
      EBB_REDIS_PORT: String(await freePort(HOST)),
      EBB_DATA_DIR: dataDir,
      EBB_ADMIN_TOKEN: ADMIN,
      EBB_MAX_BODY_BYTES: "65536",
      EBB_LOG_LEVEL: "warn",
    },
    { cwd: dataDir },
  );
  running = await bootstrap(config, {
    database,
    embeddedRedisHost: HOST,
    logger,
    modules: [...featureModules(config, {}), WidgetsModule],
  });
  apiUrl = running.apiUrl!;
  const token = async (scope: string) => {
    const created = await call("POST", "/tokens", { body: { name: `${scope}-token`, scope } });
    expect(created.status, created.text).toBe(201);
    return (JSON.parse(created.text) as { token: string }).token;
  };
  readToken = await token("read");
  deployToken = await token("deploy");
});

afterAll(async () => {
  slow.release();
  await running?.close();
  await database?.drop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe("audit of HTTP requests", () => {
  it("one event per mutating request, allowed or denied, whoever answered it; none for reads or paths outside the API", async () => {
    const created = await call("POST", "/audit-widgets", { body: { name: "a", fleet: "edge" } });
    const malformed = await call("POST", "/audit-widgets", { raw: '{"name": "a",' });
    const tooLarge = await call("POST", "/audit-widgets", {
      raw: JSON.stringify({ name: "x".repeat(200_000) }),
    });
    const invalid = await call("POST", "/audit-widgets", { body: { nam: "typo" } });
    const conflict = await call("POST", "/audit-widgets/w-a/poke");
    const forbidden = await call("DELETE", "/audit-widgets/w-a", { token: deployToken });
    const readOnly = await call("POST", "/audit-widgets", { body: { name: "r" }, token: readToken });
    const anonymous = await call("POST", "/audit-widgets", { body: { name: "n" }, token: null });
    const crash = await call("POST", "/audit-widgets/boom");
    const noRoute = await call("POST", "/nowhere/at/all");
    const noMethod = await call("PUT", "/audit-widgets/w-a");
    const deleted = await call("DELETE", "/audit-widgets/w-a");
    const noted = await call("POST", "/audit-widgets/noted");
    const read = await call("GET", "/audit-widgets");
    const outside = await call("POST", "/../../elsewhere");
    expect(
      [
        created,
        malformed,
        tooLarge,
        invalid,
        conflict,
        forbidden,
        readOnly,
        anonymous,
        crash,
        noRoute,
        noMethod,
        deleted,
        noted,
        read,
      ].map((c) => c.status),
    ).toEqual([201, 400, 413, 400, 409, 403, 403, 401, 500, 404, 404, 204, 201, 200]);

    const admin = { actorKind: "token", actorName: "EBB_ADMIN_TOKEN" };
    expect(await eventOf(created.requestId)).toMatchObject({
      ...admin,
      action: "audit-widget.create",
      resourceType: "audit-widget",
      resourceId: "w-a",
      fleet: "edge",
      outcome: "succeeded",
      httpStatus: 201,
      userAgent: "audit-http-test/1.0",
      summary: {
        route: "POST /audit-widgets",
        request: { name: "a", fleet: "edge" },
        result: { id: "w-a", status: "created" },
      },
    });
    // Refused by the JSON parser before the auth guard ran: the caller is still identified.
    expect(await eventOf(malformed.requestId)).toMatchObject({
      ...admin,
      action: "audit-widget.create",
      outcome: "failed",
      httpStatus: 400,
    });
    expect(await eventOf(tooLarge.requestId)).toMatchObject({
      action: "audit-widget.create",
      outcome: "failed",
      httpStatus: 413,
    });
    expect(await eventOf(invalid.requestId)).toMatchObject({
      ...admin,
      action: "audit-widget.create",
      outcome: "failed",
      httpStatus: 400,
      summary: { request: { nam: "typo" } },
    });
    expect(await eventOf(conflict.requestId)).toMatchObject({
      ...admin,
      action: "audit-widget.poke",
      resourceId: "w-a",
      outcome: "failed",
      httpStatus: 409,
      summary: { route: "POST /audit-widgets/:id/poke", error: "conflict" },
    });
    expect(await eventOf(forbidden.requestId)).toMatchObject({
      actorKind: "token",
      actorName: "deploy-token",
      action: "audit-widget.delete",
      resourceId: "w-a",
      outcome: "denied",
      httpStatus: 403,
    });
    expect(await eventOf(readOnly.requestId)).toMatchObject({
      actorName: "read-token",
      action: "audit-widget.create",
      outcome: "denied",
      httpStatus: 403,
    });
    expect(await eventOf(anonymous.requestId)).toMatchObject({
      actorKind: "anonymous",
      actorId: "anonymous",
      action: "audit-widget.create",
      outcome: "denied",
      httpStatus: 401,
    });
    expect(await eventOf(crash.requestId)).toMatchObject({
      action: "audit-widget.boom",
      outcome: "failed",
      httpStatus: 500,
      summary: { error: "internal" },
    });
    expect(await eventOf(noRoute.requestId)).toMatchObject({
      ...admin,
      action: "http.request",
      resourceType: null,
      outcome: "failed",
      httpStatus: 404,
      summary: { route: "POST /nowhere/at/all" },
    });
    expect(await eventOf(noMethod.requestId)).toMatchObject({ action: "http.request", httpStatus: 404 });
    expect(await eventOf(deleted.requestId)).toMatchObject({
      ...admin,
      action: "audit-widget.delete",
      outcome: "succeeded",
      httpStatus: 204,
    });
    expect(await eventOf(noted.requestId)).toMatchObject({
      action: "audit-widget.noted",
      resourceType: "gadget",
      resourceId: "g-9",
      fleet: "noted-fleet",
      summary: { extra: 1 },
    });
    // A request that reached its handler has its `started` event too, committed before the handler ran
    // (lower id), which its outcome names; one refused before (parser, guard, routing) has none.
    for (const c of [created, invalid, conflict, crash, deleted, noted]) {
      const started = (await eventsOf(c.requestId)).filter((e) => e.outcome === "started");
      const outcome = await eventOf(c.requestId);
      expect(started, c.requestId).toHaveLength(1);
      expect(started[0], c.requestId).toMatchObject({ action: outcome.action, httpStatus: null });
      expect(BigInt(started[0]!.id) < BigInt(outcome.id)).toBe(true);
      expect(outcome.summary.intent).toBe(started[0]!.id);
    }
    expect((await eventsOf(created.requestId)).find((e) => e.outcome === "started")).toMatchObject({
      ...admin,
      resourceType: "audit-widget",
      resourceId: null,
      fleet: "edge",
      summary: { route: "POST /audit-widgets", request: { name: "a", fleet: "edge" } },
    });
    for (const c of [malformed, tooLarge, forbidden, readOnly, anonymous, noRoute, noMethod]) {
      expect((await eventsOf(c.requestId)).map((e) => e.outcome)).not.toContain("started");
    }
    // Everything above is written; reads and paths outside the API are not audited.
    expect(await eventsOf(read.requestId)).toEqual([]);
    expect(await eventsOf(outside.requestId)).toEqual([]);
    const verify = await call("GET", "/audit/verify");
    expect(auditVerifySchema.parse(JSON.parse(verify.text))).toMatchObject({ ok: true });
  });

  it("a client that goes away before the answer: the event waits for the handler and says what it did", async () => {
    const controller = new AbortController();
    const requestId = `audit-http-slow-${Date.now()}`;
    const pending = fetch(`${apiUrl}/audit-widgets/slow`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN}`, "x-request-id": requestId },
      signal: controller.signal,
    }).catch((err: unknown) => err);
    await waitFor(() => slow.started, { timeoutMs: 10_000, what: "the slow handler to start" });
    controller.abort();
    expect(await pending).toBeInstanceOf(Error);
    // The server saw the client go (its write is under way), yet writes no outcome before the handler
    // ends: only the `started` event committed before the handler ran is there.
    const audit = running.app.get(AuditService);
    await waitFor(() => audit.pendingWrites === 1, {
      timeoutMs: 10_000,
      what: "the server to see the client go",
    });
    expect((await eventsOf(requestId)).map((e) => e.outcome)).toEqual(["started"]);
    expect(audit.pendingWrites).toBe(1);
    slow.release();
    expect(await eventOf(requestId)).toMatchObject({
      action: "audit-widget.slow",
      outcome: "succeeded",
      httpStatus: null,
      resourceId: "slow-1",
      summary: { aborted: true, result: { id: "slow-1", status: "done" } },
    });
  });

  it("never writes a secret: secret fields, keys and kubeconfigs in bodies, tokens in headers, paths and queries, a response's secret", async () => {
    const planted = await call("POST", "/audit-widgets?token=query-secret-value&page=2", {
      body: {
        name: "planted",
        password: "hunter2hunter2",
        config: KUBECONFIG,
        params: { SSH_KEY, NOTE: SSH_KEY, KUBECONFIG, PLAIN: "visible" },
      },
      headers: { cookie: "ebb_session=cookie-secret-value", "x-csrf-token": "csrf-secret-value" },
    });
    expect(planted.status).toBe(201);
    const revoke = await call("DELETE", `/tokens/${readToken}`);
    expect(revoke.status).toBe(400);
    const event = await eventOf(planted.requestId);
    expect(event.summary).toMatchObject({
      request: {
        password: "[redacted]",
        config: "[redacted]",
        params: { SSH_KEY: "[redacted]", PLAIN: "[redacted]" }, // no parameter value is kept: only the runbook knows which are secret,
      },
      query: { token: "[redacted]", page: "2" },
    });
    await eventOf(revoke.requestId);

    const rows = await database.prisma.$queryRaw<{ row: string }[]>`
      SELECT row_to_json(a)::text AS row FROM audit_events a`;
    const all = rows.map((r) => r.row).join("\n");
    for (const secret of [
      "BEGIN OPENSSH",
      "client-key-data",
      "hunter2hunter2",
      "query-secret-value",
      "cookie-secret-value",
      "csrf-secret-value",
      "shown-once-never-audited",
      ADMIN,
      readToken,
      deployToken,
    ]) {
      expect(all, secret).not.toContain(secret);
    }
  });

  it("X-Forwarded-For is ignored unless the proxy is trusted, and then read from the right; the socket's address is recorded", async () => {
    const forged = await call("POST", "/audit-widgets", {
      body: { name: "xff" },
      headers: { "x-forwarded-for": "203.0.113.9" },
    });
    const event = await eventOf(forged.requestId);
    expect(event.clientIp).toMatch(/^127\./);

    const req = {
      headers: { "x-forwarded-for": "203.0.113.9, 10.0.0.1" },
      socket: { remoteAddress: "::ffff:10.0.0.1" },
    };
    expect(clientIpOf(req as unknown as IncomingMessage, false)).toBe("10.0.0.1");
    // One trusted hop: the entry our proxy appended, never the client-written left-most one.
    expect(clientIpOf(req as unknown as IncomingMessage, { hops: 1 })).toBe("10.0.0.1");
    expect(clientIpOf(req as unknown as IncomingMessage, { hops: 2 })).toBe("203.0.113.9");
    expect([200, 302, 400, 401, 403, 404, 429, 500].map((s) => outcomeOf(s))).toEqual([
      "succeeded",
      "succeeded",
      "failed",
      "denied",
      "denied",
      "failed",
      "denied",
      "failed",
    ]);
  });

  it("a request whose started event cannot be written is not run (503); its outcome write is retried, then logged with its (redacted) event and counted", async () => {
    const audit = running.app.get(AuditService);
    await audit.idle();
    const failedBefore = audit.counters.failed;
    await database.prisma.$executeRawUnsafe("ALTER TABLE audit_events RENAME TO audit_events_away");
    let lost: Call;
    try {
      lost = await call("POST", "/audit-widgets", { body: { name: "lost", password: "never-logged-pw" } });
      // No effect without a trace: the handler never ran.
      expect(lost.status).toBe(503);
      expect(JSON.parse(lost.text)).toMatchObject({
        error: {
          code: "unavailable",
          message: expect.stringMatching(/not run: its audit event could not be written/),
        },
      });
      await waitFor(() => audit.counters.failed > failedBefore, {
        timeoutMs: 10_000,
        what: "the audit write to give up",
      });
    } finally {
      await database.prisma.$executeRawUnsafe("ALTER TABLE audit_events_away RENAME TO audit_events");
    }
    const line = logger.lines.find(
      (l) => l.includes("audit event not written") && l.includes(lost.requestId),
    );
    expect(line).toBeDefined();
    expect(line).toContain('"action":"audit-widget.create"');
    expect(line).toContain('"httpStatus":503');
    expect(line).not.toContain("never-logged-pw");
    expect(await eventsOf(lost.requestId)).toEqual([]);
  });
});

describe("the audit API", () => {
  let app: INestApplication;
  beforeAll(() => {
    app = running.app as INestApplication;
  });

  it("lists newest first in pages with an opaque cursor, and filters", async () => {
    const first = auditPageSchema.parse(JSON.parse((await call("GET", "/audit?limit=3")).text)) as AuditPage;
    expect(first.items).toHaveLength(3);
    const ids = first.items.map((e) => BigInt(e.id));
    expect(ids[0]! > ids[1]! && ids[1]! > ids[2]!).toBe(true);
    const second = auditPageSchema.parse(
      JSON.parse((await call("GET", `/audit?limit=3&cursor=${first.nextCursor}`)).text),
    );
    expect(BigInt(second.items[0]!.id)).toBe(ids[2]! - 1n);

    const denied = auditPageSchema.parse(
      JSON.parse((await call("GET", "/audit?outcome=denied&limit=500")).text),
    );
    expect(denied.items.length).toBeGreaterThanOrEqual(3);
    expect(denied.items.every((e) => e.outcome === "denied")).toBe(true);
    const byActor = auditPageSchema.parse(JSON.parse((await call("GET", "/audit?actor=deploy-token")).text));
    expect(byActor.items.map((e) => e.action)).toEqual(["audit-widget.delete"]);
    const byAction = auditPageSchema.parse(JSON.parse((await call("GET", "/audit?action=token.*")).text));
    expect(
      byAction.items
        .filter((e) => e.outcome !== "started")
        .map((e) => e.action)
        .sort(),
    ).toEqual(["token.create", "token.create", "token.revoke"]);
    const byFleet = auditPageSchema.parse(JSON.parse((await call("GET", "/audit?fleet=edge")).text));
    expect(byFleet.items.map((e) => [e.outcome, e.resourceId])).toEqual([
      ["succeeded", "w-a"],
      ["started", null],
    ]);
    expect(app).toBeDefined();
  });

  it("answers 400 naming the parameter for a bad cursor, limit, outcome, date or an unknown parameter", async () => {
    for (const [query, field] of [
      ["cursor=bm9wZQ", "cursor"],
      ["limit=501", "limit"],
      ["limit=0", "limit"],
      ["outcome=maybe", "outcome"],
      ["since=yesterday", "since"],
      ["actr=alice", ""],
    ] as const) {
      const res = await call("GET", `/audit?${query}`);
      expect(res.status, query).toBe(400);
      const body = JSON.parse(res.text) as { error: { code: string; details: { path: string }[] } };
      expect(body.error.code).toBe("invalid_request");
      if (field) expect(body.error.details.map((d) => d.path)).toContain(field);
    }
  });

  it("exports every matching event as NDJSON, oldest first, and verify walks the chain", async () => {
    const res = await fetch(`${apiUrl}/audit/export?action=audit-widget.*`, {
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/x-ndjson/);
    const lines = (await res.text()).trimEnd().split("\n");
    const events = lines.map((line) => auditEventSchema.parse(JSON.parse(line)));
    expect(events.length).toBeGreaterThanOrEqual(14);
    expect(events.every((e) => e.action.startsWith("audit-widget."))).toBe(true);
    const ids = events.map((e) => BigInt(e.id));
    expect(ids.every((id, i) => i === 0 || id > ids[i - 1]!)).toBe(true);

    const verified = auditVerifySchema.parse(
      JSON.parse((await call("GET", "/audit/verify")).text),
    ) as AuditVerifyResult;
    expect(verified).toMatchObject({ ok: true, firstBroken: null });
    expect(verified.checked).toBe(Number(verified.last?.id));
  });

  it("is described in the OpenAPI document with its query parameters and answers", async () => {
    const res = await fetch(new URL("/api/docs-json", apiUrl));
    expect(res.status).toBe(200);
    const doc = (await res.json()) as {
      paths: Record<string, { get?: { parameters?: { name: string; in: string }[]; tags?: string[] } }>;
    };
    const list = doc.paths["/api/v1/audit"]?.get;
    expect(list?.tags).toEqual(["audit"]);
    expect(list?.parameters?.filter((p) => p.in === "query").map((p) => p.name)).toEqual(
      expect.arrayContaining(["actor", "action", "fleet", "outcome", "since", "until", "cursor", "limit"]),
    );
    expect(doc.paths["/api/v1/audit/export"]?.get).toBeDefined();
    expect(doc.paths["/api/v1/audit/head"]?.get).toBeDefined();
    const verify = doc.paths["/api/v1/audit/verify"]?.get;
    expect(verify?.parameters?.filter((p) => p.in === "query").map((p) => p.name)).toEqual([
      "from",
      "anchor",
    ]);
  });

  it("is read-only and needs a credential: a read token may read, no one may change it", async () => {
    expect((await call("GET", "/audit/verify", { token: readToken })).status).toBe(200);
    expect((await call("GET", "/audit", { token: null })).status).toBe(401);
    for (const method of ["POST", "PUT", "PATCH", "DELETE"]) {
      expect((await call(method, "/audit")).status, method).toBe(404);
      expect((await call(method, "/audit/1")).status, method).toBe(404);
    }
  });

  // Last in the file: it spends this process's walks for the minute.
  it("verify: callers at once share one walk of the chain; a reader looping on it gets 429 with the wait", async () => {
    const together = await Promise.all(
      [1, 2, 3, 4, 5].map(() => call("GET", "/audit/verify", { token: readToken })),
    );
    expect(together.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    let refused: { status: number; text: string } | undefined;
    for (let i = 0; i < VERIFY_WALKS_PER_MINUTE + 1 && !refused; i++) {
      const res = await call("GET", "/audit/verify", { token: readToken });
      if (res.status !== 200) refused = res;
    }
    expect(refused?.status).toBe(429);
    const body = JSON.parse(refused!.text) as {
      error: { code: string; details: { retryAfterSeconds: number } };
    };
    expect(body.error.code).toBe("too_many_requests");
    expect(body.error.details.retryAfterSeconds).toBeGreaterThan(0);
  });
});
