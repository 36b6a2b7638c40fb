// The audit chain on the real databases: appends (standalone, concurrent, inside a caller's transaction),
// the append-only triggers, tampering found by verify, filters and paging, and a 100k-event verify.
import { randomBytes } from "node:crypto";
import { waitFor } from "@ebb/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { type TestDatabase, type TestDatabaseVariant, testDatabases } from "../../test-support/database.js";
import {
  type AuditEventInput,
  appendAuditEvent,
  appendAuditEvents,
  decodeCursor,
  exportAuditEvents,
  listAuditEvents,
  verifyAuditChain,
} from "./audit-store.js";
import { type ChainedFields, chainHash, GENESIS_HASH } from "./chain.js";

const opened: TestDatabase[] = [];
afterEach(async () => {
  for (const db of opened.splice(0)) await db.drop();
});

async function fresh(variant: TestDatabaseVariant): Promise<TestDatabase> {
  const db = await variant.open();
  opened.push(db);
  return db;
}

function event(n: number, extra: Partial<AuditEventInput> = {}): AuditEventInput {
  return {
    actor: { kind: "token", id: `tok-${n % 3}`, name: `ci-${n % 3}` },
    action: n % 2 === 0 ? "rollout.create" : "rollout.pause",
    resourceType: "rollout",
    resourceId: `r-${n}`,
    fleet: n % 4 === 0 ? "lab" : "edge",
    summary: { n, request: { version: `${n}.0.0` } },
    outcome: "succeeded",
    httpStatus: 201,
    clientIp: "127.0.65.1",
    userAgent: "vitest",
    requestId: `req-${n}`,
    ...extra,
  };
}

/** Changes one stored row behind the triggers' back, as only the table's owner (here: a superuser) can. */
async function tamper(prisma: TestDatabase["prisma"], sql: string): Promise<void> {
  await prisma.$transaction(async (tx) => {
    await tx.$executeRawUnsafe("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete");
    await tx.$executeRawUnsafe(sql);
    await tx.$executeRawUnsafe("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_delete");
  });
}

async function refused(operation: Promise<unknown>): Promise<string> {
  try {
    await operation;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  throw new Error("expected the database to refuse, but it did it");
}

describe.each(testDatabases())("audit chain on $kind", (variant) => {
  it("appends a chain: dense ids from 1, genesis prev_hash, each event hashing its fields and the one before", async () => {
    const db = await fresh(variant);
    const first = await appendAuditEvent(db.prisma, event(1));
    const more = await appendAuditEvents(db.prisma, [event(2), event(3)]);
    expect([first, ...more].map((e) => e.id)).toEqual([1n, 2n, 3n]);

    const rows = await db.prisma.auditEvent.findMany({ orderBy: { id: "asc" } });
    expect(rows[0]?.prevHash).toBe(GENESIS_HASH);
    expect(rows[1]?.prevHash).toBe(rows[0]?.hash);
    expect(rows[2]?.prevHash).toBe(rows[1]?.hash);
    expect(rows.map((r) => r.hash)).toEqual([first.hash, ...more.map((m) => m.hash)]);
    // The hash is over the row as stored: recomputed from what the database gives back.
    const row = rows[0]!;
    const fields: ChainedFields = {
      id: "1",
      at: row.at.toISOString(),
      actorKind: "token",
      actorId: "tok-1",
      actorName: "ci-1",
      action: "rollout.pause",
      resourceType: "rollout",
      resourceId: "r-1",
      fleet: "edge",
      summary: { n: 1, request: { version: "1.0.0" } },
      outcome: "succeeded",
      httpStatus: 201,
      clientIp: "127.0.65.1",
      userAgent: "vitest",
      requestId: "req-1",
      prevHash: GENESIS_HASH,
    };
    expect(chainHash(fields)).toBe(row.hash);

    expect(await verifyAuditChain(db.prisma)).toEqual({
      ok: true,
      checked: 3,
      anchor: null,
      firstBroken: null,
      last: { id: "3", hash: more[1]?.hash },
    });
  });

  it("an empty history verifies", async () => {
    const db = await fresh(variant);
    expect(await verifyAuditChain(db.prisma)).toEqual({
      ok: true,
      checked: 0,
      anchor: null,
      firstBroken: null,
      last: null,
    });
  });

  it("summaries survive jsonb's normalisation: key order, unicode, NUL, lone surrogates, odd numbers", async () => {
    const db = await fresh(variant);
    await appendAuditEvent(
      db.prisma,
      event(1, {
        summary: {
          z: 1,
          a: { y: [3, 2, { c: null, b: true }], x: "é ✓ 🚀 \u0000 \ud800 tail" },
          big: 1e21,
          small: 5e-324,
          tenth: 0.1,
          negZero: -0,
          nan: Number.NaN,
          nested: { deeper: { deeper: { deeper: { deeper: { deeper: "cut" } } } } },
          when: new Date("2030-01-02T03:04:05.678Z"),
          skipped: undefined,
        },
        userAgent: "agent \u0000 with NUL",
        at: new Date("2030-01-02T03:04:05.678Z"),
      }),
    );
    await appendAuditEvent(db.prisma, event(2));
    expect(await verifyAuditChain(db.prisma)).toMatchObject({ ok: true, checked: 2 });
    const row = await db.prisma.auditEvent.findUniqueOrThrow({ where: { id: 1n } });
    expect(row.at.toISOString()).toBe("2030-01-02T03:04:05.678Z");
    expect(row.summary).toMatchObject({ a: { x: "é ✓ 🚀 \uFFFD \uFFFD tail" }, nan: null, big: 1e21 });
  });

  it("concurrent appenders serialise on the lock: no id twice, none skipped, one unbroken chain", async () => {
    const db = await fresh(variant);
    const writers = 24;
    const appended = await Promise.all(
      Array.from({ length: writers }, (_, i) =>
        i % 3 === 0
          ? appendAuditEvents(db.prisma, [event(i), event(i + 100)])
          : appendAuditEvent(db.prisma, event(i)).then((e) => [e]),
      ),
    );
    const ids = appended
      .flat()
      .map((e) => Number(e.id))
      .sort((a, b) => a - b);
    expect(ids).toEqual(Array.from({ length: writers + writers / 3 }, (_, i) => i + 1));
    expect(await verifyAuditChain(db.prisma)).toMatchObject({ ok: true, checked: ids.length });
  });

  it("inside a caller's transaction, events commit and roll back with the caller's writes", async () => {
    const db = await fresh(variant);
    await appendAuditEvent(db.prisma, event(1));
    await expect(
      db.prisma.$transaction(async (tx) => {
        await tx.fleet.create({ data: { name: "doomed", balancer: "l4" } });
        await appendAuditEvent(tx, event(2));
        throw new Error("the caller changed its mind");
      }),
    ).rejects.toThrow("the caller changed its mind");
    expect(await db.prisma.auditEvent.count()).toBe(1);
    expect(await db.prisma.fleet.count({ where: { name: "doomed" } })).toBe(0);

    await db.prisma.$transaction(async (tx) => {
      await tx.fleet.create({ data: { name: "kept", balancer: "l4" } });
      await appendAuditEvents(tx, [event(3), event(4)]);
    });
    // The rolled-back append left no hole: ids stay dense, so a hole can only be a deleted event.
    expect((await db.prisma.auditEvent.findMany({ orderBy: { id: "asc" } })).map((r) => r.id)).toEqual([
      1n,
      2n,
      3n,
    ]);
    expect(await verifyAuditChain(db.prisma)).toMatchObject({ ok: true, checked: 3 });
  });

  it("the database refuses UPDATE, DELETE and TRUNCATE, whoever asks", async () => {
    const db = await fresh(variant);
    await appendAuditEvents(db.prisma, [event(1), event(2)]);
    expect(await refused(db.prisma.$executeRawUnsafe("UPDATE audit_events SET outcome = 'failed'"))).toMatch(
      /audit_events is append-only: UPDATE refused/,
    );
    expect(await refused(db.prisma.$executeRawUnsafe("DELETE FROM audit_events WHERE id = 2"))).toMatch(
      /audit_events is append-only: DELETE refused/,
    );
    expect(await refused(db.prisma.$executeRawUnsafe("TRUNCATE audit_events"))).toMatch(
      /audit_events is append-only: TRUNCATE refused/,
    );
    expect(await refused(db.prisma.auditEvent.deleteMany({}))).toMatch(/append-only/);
    expect(await db.prisma.auditEvent.count()).toBe(2);
    expect(await verifyAuditChain(db.prisma)).toMatchObject({ ok: true, checked: 2 });
  });

  it("a changed field: verify names exactly that event (hash mismatch)", async () => {
    const db = await fresh(variant);
    await appendAuditEvents(
      db.prisma,
      Array.from({ length: 12 }, (_, i) => event(i + 1)),
    );
    const target = await db.prisma.auditEvent.findUniqueOrThrow({ where: { id: 7n } });
    await tamper(db.prisma, `UPDATE audit_events SET outcome = 'denied', http_status = 403 WHERE id = 7`);

    const result = await verifyAuditChain(db.prisma, { pageSize: 5 });
    expect(result).toMatchObject({
      ok: false,
      checked: 7,
      firstBroken: { id: "7", at: target.at.toISOString(), reason: "hash_mismatch" },
      last: { id: "6" },
    });
    expect(result.firstBroken?.message).toMatch(/event 7 was changed after it was written/);
  });

  it("a summary edited inside its JSON is found too", async () => {
    const db = await fresh(variant);
    await appendAuditEvents(db.prisma, [event(1), event(2), event(3)]);
    await tamper(db.prisma, `UPDATE audit_events SET summary = jsonb_set(summary, '{n}', '99') WHERE id = 2`);
    expect(await verifyAuditChain(db.prisma)).toMatchObject({
      ok: false,
      firstBroken: { id: "2", reason: "hash_mismatch" },
    });
  });

  it("an event changed and re-hashed breaks the link to the next one (prev_hash mismatch)", async () => {
    const db = await fresh(variant);
    await appendAuditEvents(db.prisma, [event(1), event(2), event(3), event(4)]);
    const row = await db.prisma.auditEvent.findUniqueOrThrow({ where: { id: 2n } });
    const forged: ChainedFields = {
      id: "2",
      at: row.at.toISOString(),
      actorKind: "anonymous",
      actorId: "anonymous",
      actorName: "anonymous",
      action: row.action,
      resourceType: row.resourceType,
      resourceId: row.resourceId,
      fleet: row.fleet,
      summary: row.summary as ChainedFields["summary"],
      outcome: "succeeded",
      httpStatus: row.httpStatus,
      clientIp: row.clientIp,
      userAgent: row.userAgent,
      requestId: row.requestId,
      prevHash: row.prevHash,
    };
    await tamper(
      db.prisma,
      `UPDATE audit_events SET actor_kind = 'anonymous', actor_id = 'anonymous', actor_name = 'anonymous',
         hash = '${chainHash(forged)}' WHERE id = 2`,
    );
    expect(await verifyAuditChain(db.prisma)).toMatchObject({
      ok: false,
      checked: 3,
      firstBroken: { id: "3", reason: "prev_hash_mismatch" },
      last: { id: "2" },
    });
  });

  it("deleted events show as a gap before the next one, also at the very start", async () => {
    const db = await fresh(variant);
    await appendAuditEvents(
      db.prisma,
      Array.from({ length: 6 }, (_, i) => event(i + 1)),
    );
    await tamper(db.prisma, "DELETE FROM audit_events WHERE id IN (3, 4)");
    const middle = await verifyAuditChain(db.prisma);
    expect(middle).toMatchObject({ ok: false, checked: 3, firstBroken: { id: "5", reason: "gap" } });
    expect(middle.firstBroken?.message).toBe("events 3 to 4 (2) are missing before event 5");

    await tamper(db.prisma, "DELETE FROM audit_events WHERE id = 1");
    expect(await verifyAuditChain(db.prisma)).toMatchObject({
      ok: false,
      checked: 1,
      firstBroken: { id: "2", reason: "gap" },
      last: null,
    });
  });

  it("lists newest first with filters and an opaque cursor; exports oldest first", async () => {
    const db = await fresh(variant);
    await appendAuditEvents(db.prisma, [
      event(1, { at: new Date("2030-01-01T00:00:00.000Z") }),
      event(2, { at: new Date("2030-01-02T00:00:00.000Z"), outcome: "denied", httpStatus: 403 }),
      event(3, { at: new Date("2030-01-03T00:00:00.000Z") }),
      event(4, { at: new Date("2030-01-04T00:00:00.000Z"), action: "token.revoke" }),
      event(5, { at: new Date("2030-01-05T00:00:00.000Z") }),
      event(6, { at: new Date("2030-01-06T00:00:00.000Z") }),
    ]);
    const ids = (page: { items: { id: string }[] }) => page.items.map((i) => i.id);

    const first = await listAuditEvents(db.prisma, { limit: 4 });
    expect(ids(first)).toEqual(["6", "5", "4", "3"]);
    expect(first.nextCursor).not.toBeNull();
    const second = await listAuditEvents(db.prisma, { limit: 4, cursor: first.nextCursor! });
    expect(ids(second)).toEqual(["2", "1"]);
    expect(second.nextCursor).toBeNull();
    expect(() => decodeCursor("not-a-cursor")).toThrow(/cursor/);

    expect(ids(await listAuditEvents(db.prisma, { limit: 50, actor: "ci-1" }))).toEqual(["4", "1"]);
    expect(ids(await listAuditEvents(db.prisma, { limit: 50, actor: "tok-2" }))).toEqual(["5", "2"]);
    expect(ids(await listAuditEvents(db.prisma, { limit: 50, action: "rollout.pause" }))).toEqual([
      "5",
      "3",
      "1",
    ]);
    expect(ids(await listAuditEvents(db.prisma, { limit: 50, action: "token.*" }))).toEqual(["4"]);
    expect(ids(await listAuditEvents(db.prisma, { limit: 50, fleet: "lab" }))).toEqual(["4"]);
    expect(ids(await listAuditEvents(db.prisma, { limit: 50, outcome: "denied" }))).toEqual(["2"]);
    expect(
      ids(await listAuditEvents(db.prisma, { limit: 50, resourceType: "rollout", resourceId: "r-3" })),
    ).toEqual(["3"]);
    expect(
      ids(
        await listAuditEvents(db.prisma, {
          limit: 50,
          since: "2030-01-02T00:00:00.000Z",
          until: "2030-01-05T00:00:00.000Z",
        }),
      ),
    ).toEqual(["4", "3", "2"]);

    const exported: string[] = [];
    for await (const e of exportAuditEvents(db.prisma, { action: "rollout.*" }, 2)) exported.push(e.id);
    expect(exported).toEqual(["1", "2", "3", "5", "6"]);
  });

  it("origin tells what callers asked for from a rollout's transitions, whoever caused them", async () => {
    const db = await fresh(variant);
    const system = { kind: "system" as const, id: "system", name: "ebb" };
    await appendAuditEvents(db.prisma, [
      event(1, { action: "rollout.create" }),
      event(2, {
        action: "step.finished",
        actor: system,
        httpStatus: null,
        summary: { status: "succeeded" },
      }),
      event(3, { action: "rollout.pause" }),
      // The pause's own transition is recorded as the caller's: still a transition, not an action.
      event(4, { action: "rollout.status", httpStatus: null, summary: { from: "running", to: "paused" } }),
      event(5, { action: "token.revoke", resourceType: "token" }),
      event(6, { action: "auth.login", actor: { kind: "anonymous", id: "anonymous", name: "anonymous" } }),
    ]);
    const ids = (page: { items: { id: string }[] }) => page.items.map((i) => i.id);
    expect(ids(await listAuditEvents(db.prisma, { limit: 50, origin: "request" }))).toEqual([
      "6",
      "5",
      "3",
      "1",
    ]);
    expect(ids(await listAuditEvents(db.prisma, { limit: 50, origin: "transition" }))).toEqual(["4", "2"]);
    // Combined with the other filters: one rollout's transitions.
    expect(
      ids(await listAuditEvents(db.prisma, { limit: 50, origin: "transition", resourceId: "r-4" })),
    ).toEqual(["4"]);
  });

  // 100,000 on PostgreSQL; on PGlite (one WASM backend, slow bulk inserts) 20,000 still spans 20 pages.
  const total = variant.kind === "postgres" ? 100_000 : 20_000;
  it(`verifies ${total.toLocaleString("en")} events a page at a time and finds one changed deep inside`, async () => {
    const db = await fresh(variant);
    await bulkChain(db.prisma, total);
    expect(await verifyAuditChain(db.prisma)).toMatchObject({
      ok: true,
      checked: total,
      last: { id: String(total) },
    });

    const changed = Math.floor(total * 0.7777);
    await tamper(db.prisma, `UPDATE audit_events SET fleet = 'elsewhere' WHERE id = ${changed}`);
    expect(await verifyAuditChain(db.prisma)).toMatchObject({
      ok: false,
      checked: changed,
      firstBroken: { id: String(changed), reason: "hash_mismatch" },
    });
  }, 300_000);

  it.runIf(variant.kind === "postgres")(
    "an application role with SELECT and INSERT can append, but neither rewrite history nor switch the triggers off",
    async () => {
      const db = await fresh(variant);
      const role = `ebb_audit_app_${randomBytes(4).toString("hex")}`;
      await db.prisma.$executeRawUnsafe(`CREATE ROLE ${role} NOLOGIN`);
      try {
        await db.prisma.$executeRawUnsafe(`GRANT SELECT, INSERT ON audit_events TO ${role}`);
        await db.prisma.$executeRawUnsafe(`GRANT SELECT ON rollouts, fleets TO ${role}`);
        await db.prisma.$transaction(async (tx) => {
          await tx.$executeRawUnsafe(`SET LOCAL ROLE ${role}`);
          await appendAuditEvents(tx, [event(1), event(2)]);
        });
        const asApp = (sql: string) =>
          refused(
            db.prisma.$transaction(async (tx) => {
              await tx.$executeRawUnsafe(`SET LOCAL ROLE ${role}`);
              await tx.$executeRawUnsafe(sql);
            }),
          );
        expect(await asApp("UPDATE audit_events SET outcome = 'failed'")).toMatch(/permission denied/);
        expect(await asApp("DELETE FROM audit_events")).toMatch(/permission denied/);
        expect(await asApp("TRUNCATE audit_events")).toMatch(/permission denied/);
        expect(await asApp("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete")).toMatch(
          /must be owner/,
        );
        expect(await verifyAuditChain(db.prisma)).toMatchObject({ ok: true, checked: 2 });
      } finally {
        await db.prisma.$executeRawUnsafe(`DROP OWNED BY ${role}`);
        await db.prisma.$executeRawUnsafe(`DROP ROLE ${role}`);
      }
    },
  );

  it.runIf(variant.kind === "postgres")(
    "a caller's transaction holds the chain until it commits; the next appender then chains onto its event",
    async () => {
      const db = await fresh(variant);
      await appendAuditEvent(db.prisma, event(1));
      let appended = false;
      let release = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const holder = db.prisma.$transaction(
        async (tx) => {
          await appendAuditEvent(tx, event(2));
          appended = true;
          await gate;
        },
        { timeout: 20_000 },
      );
      await waitFor(() => appended, { timeoutMs: 10_000, what: "the first transaction to append" });

      let secondDone = false;
      const second = appendAuditEvent(db.prisma, event(3)).then((e) => {
        secondDone = true;
        return e;
      });
      await waitFor(
        async () => {
          const rows = await db.prisma.$queryRaw<{ n: number }[]>`
            SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory'`;
          return rows[0]?.n === 1;
        },
        { timeoutMs: 10_000, what: "the second appender to wait on the advisory lock" },
      );
      expect(secondDone).toBe(false);

      release();
      await holder;
      const third = await second;
      expect(third.id).toBe(3n);
      const rows = await db.prisma.auditEvent.findMany({ orderBy: { id: "asc" } });
      expect(rows[2]?.prevHash).toBe(rows[1]?.hash);
      expect(await verifyAuditChain(db.prisma)).toMatchObject({ ok: true, checked: 3 });
    },
  );
});

/**
 * Writes a valid chain of `total` events straight into the table, a few thousand rows a statement:
 * appending 100,000 events one by one would test PGlite's patience, not verify.
 */
async function bulkChain(prisma: TestDatabase["prisma"], total: number): Promise<void> {
  const batch = 2000;
  let prevHash = GENESIS_HASH;
  const base = Date.parse("2030-01-01T00:00:00.000Z");
  for (let start = 1; start <= total; start += batch) {
    const values: string[] = [];
    for (let id = start; id < Math.min(start + batch, total + 1); id += 1) {
      const fields: ChainedFields = {
        id: String(id),
        at: new Date(base + id).toISOString(),
        actorKind: "system",
        actorId: "system",
        actorName: "ebb",
        action: "step.finished",
        resourceType: "rollout",
        resourceId: `r-${id % 97}`,
        fleet: "lab",
        summary: { target: `vm${id % 4}`, stepIndex: id % 9, status: "succeeded" },
        outcome: "succeeded",
        httpStatus: null,
        clientIp: null,
        userAgent: null,
        requestId: null,
        prevHash,
      };
      const hash = chainHash(fields);
      values.push(
        `(${id}, '${fields.at}', 'system', 'system', 'ebb', 'step.finished', 'rollout', '${fields.resourceId}', 'lab', ` +
          `'${JSON.stringify(fields.summary)}', 'succeeded', NULL, NULL, NULL, NULL, '${prevHash}', '${hash}')`,
      );
      prevHash = hash;
    }
    await prisma.$executeRawUnsafe(
      `INSERT INTO audit_events (id, at, actor_kind, actor_id, actor_name, action, resource_type, resource_id, fleet,
         summary, outcome, http_status, client_ip, user_agent, request_id, prev_hash, hash) VALUES ${values.join(",")}`,
    );
  }
}
