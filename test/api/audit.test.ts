import { type AuditEventView, auditPageSchema, auditVerifySchema } from "@ebb/contracts";
import { waitFor } from "@ebb/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { givenEbb, type RunningEbb, TEST_ADMIN_TOKEN } from "../support/ebb.js";
import {
  gatedDrainSource,
  type Lab,
  storeRunbook,
  targetOf,
  untilRollout,
  untilTerminal,
} from "../support/rollouts.js";
import { givenLab } from "../support/world.js";

// issue #4 §3: every mutating request, allowed or denied, leaves one audit event; tampering with one row
// makes verify fail at that row; a planted secret (an SSH key, a kubeconfig) never appears in any row.

const SSH_KEY = [
  "-----BEGIN OPENSSH PRIVATE KEY-----",
  "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZWQyNTUxOQ",
  "-----END OPENSSH PRIVATE KEY-----",
].join("\n");
const KUBECONFIG = [
  "apiVersion: v1",
  "kind: Config",
  "clusters:",
  "- cluster: { server: 'https://10.0.0.1:6443', certificate-authority-data: Q0FDRVJU }",
  "  name: prod",
  "users:",
  "- name: admin",
  "  user: { client-certificate-data: Q0VSVERBVEE, client-key-data: S0VZREFUQUtFWURBVEE }",
].join("\n");
/** Fragments of the planted secrets that must appear nowhere in the audit table. */
const PLANTED = [
  "BEGIN OPENSSH",
  "b3BlbnNzaC1rZXktdjE",
  "client-key-data",
  "S0VZREFUQUtFWURBVEE",
  "Q0VSVERBVEE",
];

let lab: Lab | undefined;
let ebb: RunningEbb | undefined;

beforeAll(async () => {
  lab = await givenLab(65, { vms: 2 });
  ebb = await givenEbb(lab, 65);
  await storeRunbook(ebb, "l4-drain-gated", gatedDrainSource());
});

afterAll(async () => {
  await ebb?.cleanup();
  await lab?.cleanup();
});

interface Sent {
  what: string;
  method: string;
  status: number;
  body: unknown;
  requestId: string;
  /** What its audit event must say. */
  expect: { action: string; actor: "admin" | "read" | "anonymous"; resourceId?: string };
}

let sequence = 0;

/** One request with its own x-request-id, so its audit event can be found. */
async function send(
  what: string,
  method: string,
  route: string,
  expectation: Sent["expect"],
  opts: { body?: unknown; raw?: string; token?: string | null; headers?: Record<string, string> } = {},
): Promise<Sent> {
  const e = ebb!;
  const requestId = `audit-e2e-${++sequence}`;
  const token = opts.token === undefined ? TEST_ADMIN_TOKEN : opts.token;
  const text = opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body));
  const res = await fetch(`${e.apiUrl}${route}`, {
    method,
    signal: AbortSignal.timeout(15_000),
    headers: {
      "x-request-id": requestId,
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      ...(text === undefined ? {} : { "content-type": "application/json" }),
      ...opts.headers,
    },
    ...(text === undefined ? {} : { body: text }),
  });
  const answer = await res.text();
  let body: unknown = answer;
  try {
    body = answer ? JSON.parse(answer) : undefined;
  } catch {
    // Not JSON: keep the text for the failure message.
  }
  return { what, method, status: res.status, body, requestId, expect: expectation };
}

async function auditPage(query: string): Promise<AuditEventView[]> {
  const res = await fetch(`${ebb!.apiUrl}/audit?${query}`, {
    headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
  });
  expect(res.status).toBe(200);
  return auditPageSchema.parse(await res.json()).items;
}

async function verify() {
  const res = await fetch(`${ebb!.apiUrl}/audit/verify`, {
    headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
  });
  return auditVerifySchema.parse(await res.json());
}

function outcomeFor(status: number): string {
  if (status === 401 || status === 403 || status === 429) return "denied";
  return status < 400 ? "succeeded" : "failed";
}

describe("the audit history of a session with Ebb", () => {
  const sent: Sent[] = [];
  let rolloutId = "";

  it("every mutating request, allowed or denied, has exactly one audit event saying who, what, on what and how it ended", async () => {
    const e = ebb!;
    // Given a CI script with the admin token, and a read-only token it hands out
    const readToken = await send(
      "create a read token",
      "POST",
      "/tokens",
      { action: "token.create", actor: "admin" },
      {
        body: { name: "dashboard-reader", scope: "read" },
      },
    );
    sent.push(readToken);
    expect(readToken.status, JSON.stringify(readToken.body)).toBe(201);
    const reader = readToken.body as { id: string; token: string };

    // When it rolls the lab fleet through a gated drain, steering it on the way
    const created = await send(
      "create",
      "POST",
      "/rollouts",
      { action: "rollout.create", actor: "admin" },
      {
        body: { fleet: "lab", version: "2.0.0", runbook: "l4-drain-gated", batchSize: 1 },
        headers: { "idempotency-key": "audit-e2e-1" },
      },
    );
    sent.push(created);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    rolloutId = (created.body as { id: string }).id;
    created.expect.resourceId = rolloutId;
    await untilRollout(
      e,
      rolloutId,
      (v) => targetOf(v, "vm1").status === "awaitingApproval",
      "vm1 at the gate",
    );

    const on = (verb: string) => ({
      action: `rollout.${verb}`,
      actor: "admin" as const,
      resourceId: rolloutId,
    });
    sent.push(await send("pause", "POST", `/rollouts/${rolloutId}/pause`, on("pause"), { body: {} }));
    sent.push(await send("resume", "POST", `/rollouts/${rolloutId}/resume`, on("resume"), { body: {} }));
    sent.push(
      await send("retry a target that did not fail", "POST", `/rollouts/${rolloutId}/retry`, on("retry"), {
        body: { target: "vm2" },
      }),
    );
    sent.push(
      await send("approve", "POST", `/rollouts/${rolloutId}/approve`, on("approve"), {
        body: { target: "vm1" },
      }),
    );
    sent.push(
      await send(
        "pause with the read token",
        "POST",
        `/rollouts/${rolloutId}/pause`,
        { ...on("pause"), actor: "read" },
        {
          token: reader.token,
        },
      ),
    );
    sent.push(
      await send(
        "abort without a credential",
        "POST",
        `/rollouts/${rolloutId}/abort`,
        { ...on("abort"), actor: "anonymous" },
        {
          token: null,
        },
      ),
    );
    sent.push(
      await send("abort", "POST", `/rollouts/${rolloutId}/abort`, on("abort"), {
        body: { reason: "audit e2e" },
      }),
    );
    expect((await untilTerminal(e, rolloutId)).status).toBe("aborted");

    // and tries what it should not, planting secrets on the way
    sent.push(
      await send(
        "create with secrets in unknown fields",
        "POST",
        "/rollouts",
        { action: "rollout.create", actor: "admin" },
        {
          body: { fleet: "lab", version: "2.0.0", sshKey: SSH_KEY, kubeconfig: KUBECONFIG },
        },
      ),
    );
    sent.push(
      await send(
        "create with secrets as params",
        "POST",
        "/rollouts",
        { action: "rollout.create", actor: "admin" },
        {
          body: { fleet: "nowhere", version: "2.0.0", params: { DEPLOY_KEY: SSH_KEY, CLUSTER: KUBECONFIG } },
        },
      ),
    );
    sent.push(
      await send(
        "malformed JSON",
        "POST",
        "/rollouts",
        { action: "rollout.create", actor: "admin" },
        {
          raw: `{"fleet": "lab", "note": ${JSON.stringify(SSH_KEY)}`,
        },
      ),
    );
    sent.push(
      await send("pause an unknown rollout", "POST", `/rollouts/${crypto.randomUUID()}/pause`, {
        action: "rollout.pause",
        actor: "admin",
      }),
    );
    sent.push(
      await send(
        "create with the read token",
        "POST",
        "/rollouts",
        { action: "rollout.create", actor: "read" },
        {
          body: { fleet: "lab", version: "3.0.0" },
          token: reader.token,
        },
      ),
    );
    sent.push(
      await send(
        "log in with a wrong password",
        "POST",
        "/auth/login",
        { action: "auth.login", actor: "anonymous" },
        {
          body: { username: "nobody", password: "not-the-password-1" },
          token: null,
        },
      ),
    );
    sent.push(
      await send("no such route", "POST", "/deployments", { action: "http.request", actor: "admin" }),
    );
    sent.push(
      await send("revoke the read token", "DELETE", `/tokens/${reader.id}`, {
        action: "token.revoke",
        actor: "admin",
        resourceId: reader.id,
      }),
    );
    sent.push(
      await send(
        "use the revoked token",
        "POST",
        "/tokens",
        { action: "token.create", actor: "anonymous" },
        {
          body: { name: "again", scope: "read" },
          token: reader.token,
        },
      ),
    );
    expect(sent.map((s) => [s.what, s.status])).toEqual([
      ["create a read token", 201],
      ["create", 201],
      ["pause", 200],
      ["resume", 200],
      ["retry a target that did not fail", 409],
      ["approve", 200],
      ["pause with the read token", 403],
      ["abort without a credential", 401],
      ["abort", 200],
      ["create with secrets in unknown fields", 400],
      ["create with secrets as params", 404],
      ["malformed JSON", 400],
      ["pause an unknown rollout", 404],
      ["create with the read token", 403],
      ["log in with a wrong password", 401],
      ["no such route", 404],
      ["revoke the read token", 204],
      ["use the revoked token", 401],
    ]);

    // Then each of them has its event (written after the answer: wait for the last ones)
    const byRequest = await waitFor(
      async () => {
        const items = await auditPage("limit=500");
        const found = new Map<string, AuditEventView[]>();
        for (const item of items) {
          if (item.requestId === null) continue;
          found.set(item.requestId, [...(found.get(item.requestId) ?? []), item]);
        }
        return sent.every((s) => found.has(s.requestId)) ? found : undefined;
      },
      { timeoutMs: 10_000, what: "an audit event for every request" },
    );
    const actors = {
      admin: { actorKind: "token", actorName: "EBB_ADMIN_TOKEN" },
      read: { actorKind: "token", actorName: "dashboard-reader", actorId: reader.id },
      anonymous: { actorKind: "anonymous", actorId: "anonymous" },
    };
    for (const s of sent) {
      const events = (byRequest.get(s.requestId) ?? []).filter((event) => event.httpStatus !== null);
      expect(events, s.what).toHaveLength(1);
      expect(events[0], s.what).toMatchObject({
        action: s.expect.action,
        ...actors[s.expect.actor],
        outcome: outcomeFor(s.status),
        httpStatus: s.status,
        ...(s.expect.resourceId ? { resourceId: s.expect.resourceId } : {}),
      });
      expect(events[0]?.clientIp, s.what).toMatch(/^127\./);
    }
    // A revoked token is no one, and the event says a credential was presented that did not hold.
    expect(byRequest.get(sent.at(-1)!.requestId)?.[0]?.summary).toMatchObject({
      caller: "invalid credential",
    });
    // The rollout's requests are found by its id and its fleet, denied ones included.
    const ofRollout = await auditPage(`resourceType=rollout&resourceId=${rolloutId}&limit=500`);
    const httpOfRollout = ofRollout.filter((event) => event.httpStatus !== null);
    expect(httpOfRollout.map((event) => [event.action, event.outcome, event.fleet]).reverse()).toEqual([
      ["rollout.create", "succeeded", "lab"],
      ["rollout.pause", "succeeded", "lab"],
      ["rollout.resume", "succeeded", "lab"],
      ["rollout.retry", "failed", "lab"],
      ["rollout.approve", "succeeded", "lab"],
      ["rollout.pause", "denied", "lab"],
      ["rollout.abort", "denied", "lab"],
      ["rollout.abort", "succeeded", "lab"],
    ]);
    expect(await verify()).toMatchObject({ ok: true, firstBroken: null });
  });

  it("no planted secret (an SSH key, a kubeconfig, a token) appears in any audit row", async () => {
    const e = ebb!;
    const rows = await e.prisma.$queryRaw<
      { row: string }[]
    >`SELECT row_to_json(a)::text AS row FROM audit_events a`;
    expect(rows.length).toBeGreaterThanOrEqual(sent.length);
    const all = rows.map((r) => r.row).join("\n");
    const tokens = sent
      .map((s) => (s.body as { token?: unknown } | undefined)?.token)
      .filter((t): t is string => typeof t === "string");
    for (const secret of [...PLANTED, TEST_ADMIN_TOKEN, ...tokens]) expect(all, secret).not.toContain(secret);
    // The unknown fields were recorded as there, their values not.
    const planted = (await auditPage("limit=500")).find((event) => event.requestId === sent[9]?.requestId);
    expect(planted?.summary).toMatchObject({
      request: { fleet: "lab", sshKey: "[redacted]", kubeconfig: "[redacted]" },
    });
  });

  it("tampering with one row makes verify fail at exactly that row", async () => {
    const e = ebb!;
    // Given an intact history
    const before = await verify();
    expect(before.ok).toBe(true);
    const [victim] = await auditPage(`action=rollout.abort&outcome=succeeded`);
    expect(victim).toBeDefined();

    // When someone with the table owner's rights rewrites who aborted the rollout
    await e.prisma.$transaction(async (tx) => {
      await tx.$executeRawUnsafe("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete");
      await tx.$executeRawUnsafe(
        `UPDATE audit_events SET actor_kind = 'user', actor_id = 'u-1', actor_name = 'mallory' WHERE id = ${victim!.id}`,
      );
      await tx.$executeRawUnsafe("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_delete");
    });

    // Then verify names that row, and no earlier one
    const after = await verify();
    expect(after).toMatchObject({
      ok: false,
      checked: Number(victim!.id),
      firstBroken: { id: victim!.id, at: victim!.at, reason: "hash_mismatch" },
    });
    expect(Number(after.last?.id)).toBe(Number(victim!.id) - 1);
    // and the application cannot quietly put it back: the table refuses updates
    await expect(
      e.prisma.$executeRawUnsafe(`UPDATE audit_events SET actor_name = 'x' WHERE id = ${victim!.id}`),
    ).rejects.toThrow(/append-only/);
  });
});
