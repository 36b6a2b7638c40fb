// auditNotices inside a caller's transaction, the way the engine's applyEvent calls it.
import type { Notice } from "@ebb/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestDatabase, testDatabases } from "../../test-support/database.js";
import type { Db } from "../database/client.js";
import { verifyAuditChain } from "./audit-store.js";
import { auditNotices } from "./notices.js";

const NOTICES: Notice[] = [
  { type: "rollout.status", from: "pending", to: "running" },
  { type: "batch.started", batch: 0, targets: ["vm1"] },
  { type: "target.status", target: "vm1", from: "pending", to: "running" },
  { type: "step.started", target: "vm1", stepIndex: 0, stepId: "fail-health", attempt: 1 },
  {
    type: "step.finished",
    target: "vm1",
    stepIndex: 0,
    stepId: "fail-health",
    attempt: 1,
    status: "failed",
    error: { code: "exec_failed", message: "exit 1" },
  },
  { type: "target.status", target: "vm1", from: "running", to: "failed" },
  { type: "rollout.status", from: "running", to: "failed", reason: "vm1 failed" },
  { type: "target.leftOutOfService", target: "vm1", reason: "deploy failed" },
  { type: "approval.granted", target: "vm2", stepId: "gate", by: "alice" },
  { type: "batch.completed", batch: 0 },
];

async function rolloutOn(db: Db, fleetName: string): Promise<string> {
  const fleet = await db.fleet.create({ data: { name: fleetName, balancer: "l4" } });
  const runbook = await db.runbookVersion.create({
    data: { name: `rb-${fleetName}`, version: 1, source: "", checksum: fleetName },
  });
  const rollout = await db.rollout.create({
    data: {
      fleetId: fleet.id,
      runbookVersionId: runbook.id,
      version: "2.0.0",
      status: "pending",
      strategy: {},
      plan: {},
      state: {},
    },
  });
  return rollout.id;
}

describe.each(testDatabases())("auditNotices on $kind", (variant) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await variant.open();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it("appends one event per notice in the transition's transaction: rollout as resource, its fleet, Ebb as actor", async () => {
    const rolloutId = await rolloutOn(db.prisma, "edge");
    const at = new Date("2030-05-06T07:08:09.010Z");
    await db.prisma.$transaction(async (tx) => {
      await tx.rolloutEvent.createMany({ data: NOTICES.map((n) => ({ rolloutId, type: n.type })) });
      await auditNotices(tx, { rolloutId, at }, NOTICES);
    });

    const rows = await db.prisma.auditEvent.findMany({
      where: { resourceId: rolloutId },
      orderBy: { id: "asc" },
    });
    expect(rows.map((r) => [r.action, r.outcome])).toEqual([
      ["rollout.status", "succeeded"],
      ["batch.started", "succeeded"],
      ["target.status", "succeeded"],
      ["step.started", "succeeded"],
      ["step.finished", "failed"],
      ["target.status", "failed"],
      ["rollout.status", "failed"],
      ["target.leftOutOfService", "failed"],
      ["approval.granted", "succeeded"],
      ["batch.completed", "succeeded"],
    ]);
    for (const row of rows) {
      expect(row).toMatchObject({
        actorKind: "system",
        actorId: "system",
        actorName: "ebb",
        resourceType: "rollout",
        fleet: "edge",
        httpStatus: null,
        clientIp: null,
      });
      expect(row.at.toISOString()).toBe(at.toISOString());
    }
    expect(rows[0]?.summary).toEqual({ from: "pending", to: "running" });
    expect(rows[4]?.summary).toEqual({
      target: "vm1",
      stepIndex: 0,
      stepId: "fail-health",
      attempt: 1,
      status: "failed",
      error: { code: "exec_failed", message: "exit 1" },
    });
    expect(rows[8]?.summary).toEqual({ target: "vm2", stepId: "gate", by: "alice" });
    expect(await verifyAuditChain(db.prisma)).toMatchObject({ ok: true });
  });

  it("rolls back with the transition, and takes the caller's actor, fleet and request id when given", async () => {
    const rolloutId = await rolloutOn(db.prisma, "core");
    const before = await db.prisma.auditEvent.count();
    await expect(
      db.prisma.$transaction(async (tx) => {
        await auditNotices(tx, { rolloutId }, [{ type: "rollout.status", from: "running", to: "paused" }]);
        throw new Error("the transition lost its lease");
      }),
    ).rejects.toThrow("the transition lost its lease");
    expect(await db.prisma.auditEvent.count()).toBe(before);

    await db.prisma.$transaction((tx) =>
      auditNotices(
        tx,
        {
          rolloutId,
          fleet: "given",
          actor: { kind: "user", id: "u-1", name: "alice" },
          requestId: "req-pause-1",
        },
        [{ type: "rollout.status", from: "running", to: "paused", by: "alice" }],
      ),
    );
    const row = await db.prisma.auditEvent.findFirstOrThrow({ where: { resourceId: rolloutId } });
    expect(row).toMatchObject({
      action: "rollout.status",
      actorKind: "user",
      actorName: "alice",
      fleet: "given",
      requestId: "req-pause-1",
      summary: { from: "running", to: "paused", by: "alice" },
    });
    expect(await verifyAuditChain(db.prisma)).toMatchObject({ ok: true, checked: before + 1 });
  });

  it("no notices, no events", async () => {
    const before = await db.prisma.auditEvent.count();
    await db.prisma.$transaction((tx) => auditNotices(tx, { rolloutId: crypto.randomUUID() }, []));
    expect(await db.prisma.auditEvent.count()).toBe(before);
  });
});
