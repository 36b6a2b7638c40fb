import { spawn } from "node:child_process";
import path from "node:path";
import { type AuditVerifyResult, auditHeadResponseSchema, auditVerifySchema } from "@ebb/contracts";
import { waitFor } from "@ebb/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { givenEbbWith, type RunningEbb, TEST_ADMIN_TOKEN } from "../support/ebb.js";

// issue #13 §1.8: a head exported once (`ebb audit head`) anchors later checks of the chain. Verify from
// the anchor passes over events added since; an event changed after the anchor fails naming its id; a
// wrong anchor fails; a tail cut off the end, which a walk from the first event cannot see, fails too.
// Real API (PostgreSQL when reachable), the built `ebb` binary as a child process.

const BIN = path.resolve(import.meta.dirname, "../../packages/cli/bin/ebb.js");
let ebb: RunningEbb | undefined;

beforeAll(async () => {
  ebb = await givenEbbWith(async () => undefined, 92, {}, { database: "postgres" });
});

afterAll(async () => {
  await ebb?.cleanup();
});

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH ?? "", EBB_URL: ebb!.apiUrl, EBB_TOKEN: TEST_ADMIN_TOKEN },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
}

async function get(route: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${ebb!.apiUrl}${route}`, {
    headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
  });
  return { status: res.status, body: await res.json() };
}

async function verify(query = ""): Promise<AuditVerifyResult> {
  const res = await get(`/audit/verify${query}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return auditVerifySchema.parse(res.body);
}

let tokens = 0;
/** Creates a token and waits for both of its events (started, then the outcome after the answer). */
async function someRequest(): Promise<void> {
  const requestId = `audit-anchor-${++tokens}`;
  const res = await fetch(`${ebb!.apiUrl}/tokens`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${TEST_ADMIN_TOKEN}`,
      "content-type": "application/json",
      "x-request-id": requestId,
    },
    body: JSON.stringify({ name: `anchor-${tokens}`, scope: "read" }),
  });
  expect(res.status).toBe(201);
  await waitFor(async () => (await ebb!.prisma.auditEvent.count({ where: { requestId } })) === 2, {
    what: `both audit events of ${requestId}`,
  });
}

/** As someone with the table owner's rights would: the append-only trigger off, a raw statement, on again. */
async function asTableOwner(sql: string): Promise<void> {
  await ebb!.prisma.$transaction(async (tx) => {
    await tx.$executeRawUnsafe("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete");
    await tx.$executeRawUnsafe(sql);
    await tx.$executeRawUnsafe("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_delete");
  });
}

describe("verifying the audit chain against a head recorded earlier", () => {
  it("passes over what was added since, fails on a changed event naming it, on a wrong anchor, on a cut tail", async () => {
    // Given some history, and its head recorded by a CI job
    await someRequest();
    await someRequest();
    const exported = await cli(["audit", "head"]);
    expect(exported.code, exported.stderr).toBe(0);
    const anchor = exported.stdout.trim();
    const [anchorId, anchorHash] = anchor.split(":") as [string, string];
    const newest = await ebb!.prisma.auditEvent.findFirst({ orderBy: { id: "desc" } });
    expect(anchor).toBe(`${newest!.id}:${newest!.hash}`);
    expect(auditHeadResponseSchema.parse((await get("/audit/head")).body).head).toMatchObject({
      id: anchorId,
      hash: anchorHash,
    });

    // When more happens after it
    await someRequest();
    await someRequest();
    const head = (await ebb!.prisma.auditEvent.findFirst({ orderBy: { id: "desc" } }))!;
    const after = head.id - BigInt(anchorId);
    expect(after).toBe(4n);

    // Then the chain verifies from the anchor: the anchor itself and the events after it, nothing before
    const passed = await cli(["audit", "verify", "--anchor", anchor]);
    expect(passed.code, passed.stderr + passed.stdout).toBe(0);
    expect(passed.stdout).toContain(`audit chain intact from anchor event ${anchorId}: 5 event(s)`);
    expect(await verify(`?from=${anchorId}&anchor=${anchorHash}`)).toEqual({
      ok: true,
      checked: 5,
      anchor: { id: anchorId, hash: anchorHash },
      firstBroken: null,
      last: { id: head.id.toString(), hash: head.hash },
    });

    // A wrong anchor (another event's hash) fails at the anchor
    const before = (await ebb!.prisma.auditEvent.findUnique({ where: { id: BigInt(anchorId) - 1n } }))!;
    const wrong = await cli(["audit", "verify", "--anchor", `${anchorId}:${before.hash}`]);
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toContain(`audit chain BROKEN at event ${anchorId}:`);
    expect((await verify(`?from=${anchorId}&anchor=${before.hash}`)).firstBroken).toMatchObject({
      id: anchorId,
      reason: "anchor_mismatch",
    });

    // An event after the anchor changed by someone with the table owner's rights fails, naming it
    const victim = BigInt(anchorId) + 2n;
    await asTableOwner(`UPDATE audit_events SET actor_name = 'mallory' WHERE id = ${victim}`);
    const tampered = await cli(["audit", "verify", "--anchor", anchor]);
    expect(tampered.code).toBe(1);
    expect(tampered.stdout).toContain(`audit chain BROKEN at event ${victim}: event ${victim} was changed`);
    expect(await verify(`?from=${anchorId}&anchor=${anchorHash}`)).toMatchObject({
      ok: false,
      checked: 3,
      firstBroken: { id: victim.toString(), reason: "hash_mismatch" },
    });

    // A tail cut off the end, the anchor with it: a walk from the first event cannot tell, the anchor can
    await asTableOwner(`DELETE FROM audit_events WHERE id >= ${BigInt(anchorId) - 1n}`);
    expect(await verify()).toMatchObject({ ok: true, firstBroken: null });
    const cut = await verify(`?from=${anchorId}&anchor=${anchorHash}`);
    expect(cut).toMatchObject({
      ok: false,
      firstBroken: { id: anchorId, at: null, reason: "anchor_missing" },
    });
    expect(cut.firstBroken?.message).toContain(`event ${anchorId} (the anchor) is not there`);
  });

  it("refuses an anchor that is not one, naming the field", async () => {
    const half = await get("/audit/verify?from=3");
    expect(half.status).toBe(400);
    expect(JSON.stringify(half.body)).toMatch(/anchor/);
    const badHash = await get(`/audit/verify?from=3&anchor=${"X".repeat(64)}`);
    expect(badHash.status).toBe(400);
    expect(JSON.stringify(badHash.body)).toMatch(/anchor/);
    const usage = await cli(["audit", "verify", "--anchor", "not-an-anchor"]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("--anchor: expected ID:HASH");
  });
});
