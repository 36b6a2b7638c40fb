import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort, waitFor } from "@ebb/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyAuditChain } from "../../apps/api/src/audit/audit-store.js";
import { type TestDatabase, testDatabases } from "../../apps/api/test-support/database.js";
import { TEST_ADMIN_TOKEN } from "../support/ebb.js";
import { type Outageable, startOwnRedis } from "../support/outage.js";

// issue #13 §1.8: an API process killed (SIGKILL) after a mutating request's effect committed and before
// its answer left must still leave that request in the audit history. The built API runs as a child
// process on PostgreSQL; a preloaded hook (test/support/die-before-response.mjs) kills it at the moment
// the response would be sent, so the effect is certainly in the database and nothing else got to run.

const NET = 91;
const MAIN = path.resolve(import.meta.dirname, "../../apps/api/dist/main.js");
const DIE_HOOK = path.resolve(import.meta.dirname, "../support/die-before-response.mjs");
const postgres = testDatabases().find((v) => v.kind === "postgres");

let db: TestDatabase | undefined;
let redis: Outageable | undefined;
let dataDir: string | undefined;
let api: ChildProcess | undefined;

beforeAll(async () => {
  if (!postgres) return;
  db = await postgres.open();
  redis = await startOwnRedis();
  dataDir = await mkdtemp(path.join(tmpdir(), "ebb-audit-crash-"));
});

afterAll(async () => {
  if (api && api.exitCode === null && api.signalCode === null) api.kill("SIGKILL");
  await redis?.cleanup();
  await db?.drop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

/** The built API (api role only), told to die as it answers `dieOn`; resolves once it serves HTTP. */
async function startApi(dieOn: string): Promise<{ url: string; exited: Promise<NodeJS.Signals | number> }> {
  const host = `127.0.${NET}.1`;
  const port = await freePort(host);
  const child = spawn(process.execPath, ["--import", DIE_HOOK, MAIN], {
    env: {
      PATH: process.env.PATH ?? "",
      EBB_ROLE: "api",
      EBB_API_HOST: host,
      EBB_API_PORT: String(port),
      EBB_DATA_DIR: dataDir!,
      DATABASE_URL: db!.config.url!,
      REDIS_URL: redis!.url,
      EBB_ADMIN_TOKEN: TEST_ADMIN_TOKEN,
      EBB_LOG_LEVEL: "warn",
      EBB_TEST_DIE_BEFORE_RESPONSE: dieOn,
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  api = child;
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = once(child, "exit").then(([code, signal]) => (signal ?? code) as NodeJS.Signals | number);
  const url = `http://${host}:${port}/api/v1`;
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`the API exited (${child.exitCode}): ${stderr}`);
      return (await fetch(`${url}/health/live`, { signal: AbortSignal.timeout(1_000) })).ok;
    },
    { timeoutMs: 30_000, intervalMs: 100, what: "the API to serve HTTP" },
  );
  return { url, exited };
}

describe.skipIf(!postgres)("a mutating request whose API process is killed before it answers", () => {
  it("has its audit event: the effect committed, the answer never left, the event is there", async () => {
    const prisma = db!.prisma;
    // Given an API process that dies (SIGKILL) as it is about to answer a token creation
    const { url, exited } = await startApi("POST /api/v1/tokens");
    const requestId = "audit-crash-1";

    // When a CI script creates a token
    const answer = await fetch(`${url}/tokens`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${TEST_ADMIN_TOKEN}`,
        "content-type": "application/json",
        "x-request-id": requestId,
      },
      body: JSON.stringify({ name: "crashed-ci", scope: "read" }),
      signal: AbortSignal.timeout(15_000),
    }).then(
      (res) => `answered ${res.status}`,
      (err: Error) => `no answer (${err.message})`,
    );

    // Then no answer came, the process was killed, and the token was created
    expect(answer).toMatch(/^no answer/);
    expect(await exited).toBe("SIGKILL");
    expect(await prisma.apiToken.count({ where: { name: "crashed-ci" } })).toBe(1);

    // and the request is in the audit history: its `started` event, committed before the handler ran,
    // saying who asked for what; no outcome after it (the process died first), which is what says the
    // request was cut short.
    const events = await prisma.auditEvent.findMany({ where: { requestId }, orderBy: { id: "asc" } });
    expect(
      events.map((e) => ({
        action: e.action,
        outcome: e.outcome,
        actorName: e.actorName,
        httpStatus: e.httpStatus,
        request: (e.summary as { request?: unknown }).request,
      })),
    ).toEqual([
      {
        action: "token.create",
        outcome: "started",
        actorName: "EBB_ADMIN_TOKEN",
        httpStatus: null,
        request: { name: "crashed-ci", scope: "read" },
      },
    ]);
    expect(await verifyAuditChain(prisma)).toMatchObject({ ok: true, firstBroken: null });
  });
});
