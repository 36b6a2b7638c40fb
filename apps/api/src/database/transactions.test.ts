import { waitFor } from "@ebb/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestDatabase, testDatabases } from "../../test-support/database.js";
import type { Db } from "./client.js";

async function leasedTarget(db: Db, token: bigint): Promise<string> {
  const fleet = await db.fleet.create({
    data: { name: `fleet-${crypto.randomUUID()}`, balancer: "l4" },
  });
  const target = await db.target.create({
    data: { fleetId: fleet.id, name: "vm1", host: "127.0.0.11", port: 8080 },
  });
  const runbook = await db.runbookVersion.create({
    data: { name: `rb-${crypto.randomUUID()}`, version: 1, source: "", checksum: "c" },
  });
  const rollout = await db.rollout.create({
    data: {
      fleetId: fleet.id,
      runbookVersionId: runbook.id,
      version: "2.0.0",
      status: "running",
      strategy: {},
      plan: {},
      state: {},
    },
  });
  await db.lease.create({ data: { targetId: target.id, rolloutId: rollout.id, token } });
  return target.id;
}

/** The read-modify-write the lease code does: lock the row, read the token, write token + 1. */
async function lockedToken(tx: Db, targetId: string): Promise<bigint> {
  const rows = await tx.$queryRaw<{ token: bigint }[]>`
    SELECT token FROM leases WHERE target_id = ${targetId}::uuid FOR UPDATE`;
  const token = rows[0]?.token;
  if (typeof token !== "bigint") throw new Error(`no lease row for ${targetId} (got ${String(token)})`);
  return token;
}

describe.each(testDatabases())("interactive transactions on $kind", (variant) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await variant.open();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it("SELECT ... FOR UPDATE through tx.$queryRaw, then an update, commits", async () => {
    const targetId = await leasedTarget(db.prisma, 41n);
    const written = await db.prisma.$transaction(async (tx) => {
      const token = await lockedToken(tx, targetId);
      await tx.lease.update({ where: { targetId }, data: { token: token + 1n } });
      await tx.rolloutEvent.create({
        data: {
          rolloutId: (await tx.lease.findUniqueOrThrow({ where: { targetId } })).rolloutId,
          type: "lease.renewed",
        },
      });
      return token + 1n;
    });
    expect(written).toBe(42n);
    expect((await db.prisma.lease.findUniqueOrThrow({ where: { targetId } })).token).toBe(42n);
  });

  it("rolls everything back when the callback throws", async () => {
    const targetId = await leasedTarget(db.prisma, 7n);
    const lease = await db.prisma.lease.findUniqueOrThrow({ where: { targetId } });
    await expect(
      db.prisma.$transaction(async (tx) => {
        await lockedToken(tx, targetId);
        await tx.lease.update({ where: { targetId }, data: { token: 8n } });
        await tx.rolloutEvent.create({ data: { rolloutId: lease.rolloutId, type: "never" } });
        throw new Error("lost the lease");
      }),
    ).rejects.toThrow("lost the lease");
    expect((await db.prisma.lease.findUniqueOrThrow({ where: { targetId } })).token).toBe(7n);
    expect(await db.prisma.rolloutEvent.count({ where: { rolloutId: lease.rolloutId } })).toBe(0);
    // The connection (PGlite: the only one) is usable again after the rollback.
    expect(await db.prisma.lease.count({ where: { targetId } })).toBe(1);
  });

  it("concurrent read-modify-write transactions that lock the row lose no update", async () => {
    const targetId = await leasedTarget(db.prisma, 100n);
    const writers = 8;
    await Promise.all(
      Array.from({ length: writers }, () =>
        db.prisma.$transaction(
          async (tx) => {
            const token = await lockedToken(tx, targetId);
            await tx.lease.update({ where: { targetId }, data: { token: token + 1n } });
          },
          // PGlite runs one transaction at a time: the last one waits for the seven before it.
          { maxWait: 10_000, timeout: 10_000 },
        ),
      ),
    );
    expect((await db.prisma.lease.findUniqueOrThrow({ where: { targetId } })).token).toBe(
      100n + BigInt(writers),
    );
  });

  it.runIf(variant.kind === "postgres")(
    "a second FOR UPDATE waits for the first transaction to commit, then reads its value",
    async () => {
      const targetId = await leasedTarget(db.prisma, 1n);
      let firstLocked = false;
      let releaseFirst = () => {};
      const gate = new Promise<void>((resolve) => {
        releaseFirst = resolve;
      });
      const first = db.prisma.$transaction(
        async (tx) => {
          await lockedToken(tx, targetId);
          firstLocked = true;
          await gate;
          await tx.lease.update({ where: { targetId }, data: { token: 100n } });
        },
        { timeout: 10_000 },
      );
      await waitFor(() => firstLocked, { timeoutMs: 5_000, what: "the first transaction to lock the lease" });

      let secondRead: bigint | undefined;
      const second = db.prisma.$transaction(
        async (tx) => {
          secondRead = await lockedToken(tx, targetId);
          await tx.lease.update({ where: { targetId }, data: { token: secondRead + 1n } });
        },
        { timeout: 10_000 },
      );
      await waitFor(
        async () => {
          const rows = await db.prisma.$queryRaw<{ n: number }[]>`
            SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE datname = current_database() AND wait_event_type = 'Lock'`;
          return rows[0]?.n === 1;
        },
        { timeoutMs: 5_000, what: "the second transaction to wait on the row lock" },
      );
      expect(secondRead).toBeUndefined();

      releaseFirst();
      await Promise.all([first, second]);
      expect(secondRead).toBe(100n);
      expect((await db.prisma.lease.findUniqueOrThrow({ where: { targetId } })).token).toBe(101n);
    },
  );
});
