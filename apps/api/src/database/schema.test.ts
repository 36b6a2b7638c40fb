// The migration SQL is written by hand: these tests drive every model of prisma/schema.prisma through
// the generated client, so a column, type, default, unique index or foreign key that does not match the
// schema goes red here.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestDatabase, testDatabases } from "../../test-support/database.js";
import { Prisma } from "../generated/prisma/client.js";
import type { Db } from "./client.js";

/** The error a Prisma operation rejects with; fails the test when it succeeds. */
async function prismaError(operation: PromiseLike<unknown>): Promise<Prisma.PrismaClientKnownRequestError> {
  try {
    await operation;
  } catch (err) {
    if (err instanceof Prisma.PrismaClientKnownRequestError) return err;
    throw err;
  }
  throw new Error("expected a Prisma error, but the operation succeeded");
}

/** The constraint a violation names: the adapters differ in what they report, both keep the message. */
function violated(err: Prisma.PrismaClientKnownRequestError): string | undefined {
  const meta = err.meta as { driverAdapterError?: { cause?: { originalMessage?: string } } } | undefined;
  return meta?.driverAdapterError?.cause?.originalMessage?.match(/constraint "([^"]+)"/)?.[1];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let counter = 0;
const unique = (prefix: string) => `${prefix}-${++counter}-${randomUUID().slice(0, 8)}`;

async function fleetWithTargets(db: Db, targets = ["vm1", "vm2"]) {
  return db.fleet.create({
    data: {
      name: unique("fleet"),
      balancer: "l4",
      targets: { create: targets.map((name, i) => ({ name, host: `127.0.0.${11 + i}`, port: 8080 })) },
    },
    include: { targets: { orderBy: { name: "asc" } } },
  });
}

async function runbook(db: Db) {
  const name = unique("runbook");
  return db.runbookVersion.create({
    data: { name, version: 1, source: "steps: []", checksum: `sha-${name}` },
  });
}

async function rollout(
  db: Db,
  fleetId: string,
  runbookVersionId: string,
  extra: Partial<Prisma.RolloutUncheckedCreateInput> = {},
) {
  return db.rollout.create({
    data: {
      fleetId,
      runbookVersionId,
      version: "2.0.0",
      status: "pending",
      strategy: { batchSize: 1, maxUnavailable: 1 },
      plan: { batches: [["vm1"], ["vm2"]] },
      state: { status: "pending", targets: {} },
      ...extra,
    },
  });
}

describe.each(testDatabases())("schema through Prisma on $kind", (variant) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await variant.open();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it("Fleet: defaults, Json round trip, unique name (P2002), @updatedAt", async () => {
    const { prisma } = db;
    const name = unique("fleet");
    const fleet = await prisma.fleet.create({ data: { name, balancer: "haproxy" } });
    expect(fleet).toMatchObject({ name, balancer: "haproxy", balancerConfig: {}, protected: false });
    expect(fleet.id).toMatch(UUID);
    expect(fleet.createdAt).toBeInstanceOf(Date);
    expect(Math.abs(fleet.createdAt.getTime() - Date.now())).toBeLessThan(60_000);

    const config = {
      adminUrl: "http://127.0.0.1:8081",
      weights: [1, 2.5, null],
      nested: { ok: true, s: "é ✓" },
    };
    const updated = await prisma.fleet.update({
      where: { id: fleet.id },
      data: { balancerConfig: config, protected: true },
    });
    expect(updated.updatedAt.getTime()).toBeGreaterThanOrEqual(fleet.updatedAt.getTime());
    expect(await prisma.fleet.findUniqueOrThrow({ where: { name } })).toMatchObject({
      balancerConfig: config,
      protected: true,
    });

    const duplicate = await prismaError(prisma.fleet.create({ data: { name, balancer: "l4" } }));
    expect(duplicate.code).toBe("P2002");
    expect(violated(duplicate)).toBe("fleets_name_key");
  });

  it("Target: created through its fleet, Json defaults and path filters, unique (fleet, name) per fleet", async () => {
    const { prisma } = db;
    const fleet = await fleetWithTargets(prisma);
    expect(fleet.targets.map((t) => t.name)).toEqual(["vm1", "vm2"]);
    const [vm1] = fleet.targets;
    expect(vm1).toMatchObject({
      fleetId: fleet.id,
      host: "127.0.0.11",
      port: 8080,
      executor: "local",
      executorConfig: {},
      labels: {},
      facts: {},
    });

    await prisma.target.update({
      where: { fleetId_name: { fleetId: fleet.id, name: "vm1" } },
      data: { labels: { role: "web", zone: "a" }, facts: { keepAliveTimeoutMs: 301_000 }, executor: "ssh" },
    });
    const web = await prisma.target.findMany({
      where: { fleetId: fleet.id, labels: { path: ["role"], equals: "web" } },
      include: { fleet: true },
    });
    expect(web).toHaveLength(1);
    expect(web[0]).toMatchObject({ name: "vm1", executor: "ssh", facts: { keepAliveTimeoutMs: 301_000 } });
    expect(web[0]?.fleet.name).toBe(fleet.name);

    const duplicate = await prismaError(
      prisma.target.create({ data: { fleetId: fleet.id, name: "vm1", host: "127.0.0.99", port: 1 } }),
    );
    expect(duplicate.code).toBe("P2002");
    expect(violated(duplicate)).toBe("targets_fleet_id_name_key");

    const other = await fleetWithTargets(prisma, ["vm1"]);
    expect(other.targets[0]?.name).toBe("vm1");

    const missingFleet = await prismaError(
      prisma.target.create({ data: { fleetId: randomUUID(), name: "x", host: "h", port: 1 } }),
    );
    expect(missingFleet.code).toBe("P2003");
  });

  it("RunbookVersion: optional createdBy, unique (name, version) and (name, checksum)", async () => {
    const { prisma } = db;
    const v1 = await runbook(prisma);
    expect(v1).toMatchObject({ version: 1, createdBy: null });
    const v2 = await prisma.runbookVersion.create({
      data: { name: v1.name, version: 2, source: "steps: [x]", checksum: "other", createdBy: "alice" },
    });
    expect(v2.createdBy).toBe("alice");

    const sameVersion = await prismaError(
      prisma.runbookVersion.create({ data: { name: v1.name, version: 1, source: "s", checksum: "third" } }),
    );
    expect(sameVersion.code).toBe("P2002");
    expect(violated(sameVersion)).toBe("runbook_versions_name_version_key");

    const sameText = await prismaError(
      prisma.runbookVersion.create({
        data: { name: v1.name, version: 3, source: "s", checksum: v1.checksum },
      }),
    );
    expect(sameText.code).toBe("P2002");
    expect(violated(sameText)).toBe("runbook_versions_name_checksum_key");

    const versions = await prisma.runbookVersion.findMany({
      where: { name: v1.name },
      orderBy: { version: "desc" },
    });
    expect(versions.map((v) => v.version)).toEqual([2, 1]);
  });

  it("Rollout: relations, Json columns, revision for optimistic updates, nullable unique idempotency key", async () => {
    const { prisma } = db;
    const fleet = await fleetWithTargets(prisma);
    const rb = await runbook(prisma);
    const created = await rollout(prisma, fleet.id, rb.id, { requestedBy: "ci" });
    expect(created).toMatchObject({
      params: {},
      revision: 0,
      idempotencyKey: null,
      requestedBy: "ci",
      startedAt: null,
      finishedAt: null,
      strategy: { batchSize: 1, maxUnavailable: 1 },
      plan: { batches: [["vm1"], ["vm2"]] },
    });
    // Two rollouts without a key do not collide: NULLs are distinct in a unique index.
    await rollout(prisma, fleet.id, rb.id);

    const key = unique("idem");
    await rollout(prisma, fleet.id, rb.id, { idempotencyKey: key });
    const again = await prismaError(rollout(prisma, fleet.id, rb.id, { idempotencyKey: key }));
    expect(again.code).toBe("P2002");
    expect(violated(again)).toBe("rollouts_idempotency_key_key");

    const startedAt = new Date("2030-01-02T03:04:05.678Z");
    const first = await prisma.rollout.updateMany({
      where: { id: created.id, revision: 0 },
      data: { status: "running", startedAt, state: { status: "running" }, revision: { increment: 1 } },
    });
    expect(first.count).toBe(1);
    const stale = await prisma.rollout.updateMany({
      where: { id: created.id, revision: 0 },
      data: { status: "failed" },
    });
    expect(stale.count).toBe(0);

    const read = await prisma.rollout.findUniqueOrThrow({
      where: { id: created.id },
      include: { fleet: true, runbookVersion: true },
    });
    expect(read).toMatchObject({ status: "running", revision: 1, state: { status: "running" } });
    // timestamptz(3): milliseconds survive the round trip.
    expect(read.startedAt?.toISOString()).toBe("2030-01-02T03:04:05.678Z");
    expect(read.fleet.id).toBe(fleet.id);
    expect(read.runbookVersion.name).toBe(rb.name);

    const byStatus = await prisma.rollout.findMany({
      where: { fleetId: fleet.id, status: "pending" },
      orderBy: { createdAt: "asc" },
    });
    expect(byStatus).toHaveLength(2);

    const noRunbook = await prismaError(rollout(prisma, fleet.id, randomUUID()));
    expect(noRunbook.code).toBe("P2003");
  });

  it("TargetRun and StepRun: nested reads, nullable Json (DbNull), observations default, composite uniques", async () => {
    const { prisma } = db;
    const fleet = await fleetWithTargets(prisma);
    const [vm1, vm2] = fleet.targets;
    if (!vm1 || !vm2) throw new Error("fixture");
    const r = await rollout(prisma, fleet.id, (await runbook(prisma)).id);

    const run = await prisma.targetRun.create({
      data: {
        rolloutId: r.id,
        targetId: vm1.id,
        batch: 0,
        status: "running",
        stepIndex: 0,
        attempt: 1,
        stepRuns: {
          create: [
            { stepIndex: 0, stepId: "fail-health", type: "exec", attempt: 1, status: "succeeded" },
            {
              stepIndex: 1,
              stepId: "await-unbound",
              type: "balancer.awaitUnbound",
              attempt: 1,
              status: "running",
            },
          ],
        },
      },
      include: { stepRuns: { orderBy: { stepIndex: "asc" } } },
    });
    expect(run).toMatchObject({ error: null, startedAt: null, finishedAt: null });
    expect(run.stepRuns.map((s) => [s.stepId, s.observations, s.error, s.outputTail])).toEqual([
      ["fail-health", [], null, null],
      ["await-unbound", [], null, null],
    ]);

    const step = run.stepRuns[1];
    if (!step) throw new Error("fixture");
    const observations = [{ at: "2030-01-01T00:00:00Z", bound: false, health: "failed" }];
    await prisma.stepRun.update({
      where: { id: step.id },
      data: {
        observations,
        error: { code: "TIMEOUT", message: "still bound" },
        outputTail: "line 1\nline 2",
      },
    });
    await prisma.targetRun.update({ where: { id: run.id }, data: { error: { code: "STEP_FAILED" } } });
    const failed = await prisma.targetRun.findUniqueOrThrow({
      where: { rolloutId_targetId: { rolloutId: r.id, targetId: vm1.id } },
      include: { stepRuns: { where: { status: "running" } }, target: true, rollout: true },
    });
    expect(failed.error).toEqual({ code: "STEP_FAILED" });
    expect(failed.target.name).toBe("vm1");
    expect(failed.rollout.id).toBe(r.id);
    expect(failed.stepRuns).toHaveLength(1);
    expect(failed.stepRuns[0]).toMatchObject({ observations, outputTail: "line 1\nline 2" });

    await prisma.targetRun.update({ where: { id: run.id }, data: { error: Prisma.DbNull } });
    expect(await prisma.targetRun.count({ where: { id: run.id, error: { equals: Prisma.DbNull } } })).toBe(1);

    const sameTarget = await prismaError(
      prisma.targetRun.create({
        data: { rolloutId: r.id, targetId: vm1.id, batch: 1, status: "pending", stepIndex: 0, attempt: 1 },
      }),
    );
    expect(sameTarget.code).toBe("P2002");
    expect(violated(sameTarget)).toBe("target_runs_rollout_id_target_id_key");

    const sameAttempt = await prismaError(
      prisma.stepRun.create({
        data: { targetRunId: run.id, stepIndex: 1, stepId: "x", type: "exec", attempt: 1, status: "pending" },
      }),
    );
    expect(sameAttempt.code).toBe("P2002");
    expect(violated(sameAttempt)).toBe("step_runs_target_run_id_step_index_attempt_key");
    await prisma.stepRun.create({
      data: { targetRunId: run.id, stepIndex: 1, stepId: "x", type: "exec", attempt: 2, status: "pending" },
    });
  });

  it("Lease: one per target, BigInt token beyond 2^53 that only grows", async () => {
    const { prisma } = db;
    const fleet = await fleetWithTargets(prisma);
    const [vm1] = fleet.targets;
    if (!vm1) throw new Error("fixture");
    const r = await rollout(prisma, fleet.id, (await runbook(prisma)).id);

    const big = 2n ** 53n + 1n;
    const lease = await prisma.lease.create({ data: { targetId: vm1.id, rolloutId: r.id, token: big } });
    expect(lease.token).toBe(big);
    expect(lease.acquiredAt).toBeInstanceOf(Date);

    const bumped = await prisma.lease.update({
      where: { targetId: vm1.id },
      data: { token: { increment: 1 } },
    });
    expect(bumped.token).toBe(big + 1n);
    const fenced = await prisma.lease.updateMany({
      where: { targetId: vm1.id, token: { lte: big } },
      data: { token: big + 5n },
    });
    expect(fenced.count).toBe(0);

    const second = await prismaError(
      prisma.lease.create({ data: { targetId: vm1.id, rolloutId: r.id, token: 1n } }),
    );
    expect(second.code).toBe("P2002");
    expect(violated(second)).toBe("leases_pkey");

    const withRelations = await prisma.target.findUniqueOrThrow({
      where: { id: vm1.id },
      include: { lease: { include: { rollout: true } } },
    });
    expect(withRelations.lease?.token).toBe(big + 1n);
    expect(withRelations.lease?.rollout.id).toBe(r.id);
    expect(
      (await prisma.rollout.findUniqueOrThrow({ where: { id: r.id }, include: { leases: true } })).leases,
    ).toHaveLength(1);
  });

  it("RolloutEvent: BigInt identity in insertion order, defaults for at and data", async () => {
    const { prisma } = db;
    const fleet = await fleetWithTargets(prisma);
    const r = await rollout(prisma, fleet.id, (await runbook(prisma)).id);
    const first = await prisma.rolloutEvent.create({ data: { rolloutId: r.id, type: "rollout.started" } });
    expect(typeof first.id).toBe("bigint");
    expect(first).toMatchObject({ target: null, data: {} });
    expect(first.at).toBeInstanceOf(Date);
    await prisma.rolloutEvent.createMany({
      data: [
        { rolloutId: r.id, type: "step.started", target: "vm1", data: { step: "fail-health" } },
        { rolloutId: r.id, type: "step.succeeded", target: "vm1", data: { step: "fail-health", ms: 12 } },
      ],
    });
    const events = await prisma.rolloutEvent.findMany({
      where: { rolloutId: r.id, id: { gt: first.id } },
      orderBy: { id: "asc" },
    });
    expect(events.map((e) => e.type)).toEqual(["step.started", "step.succeeded"]);
    expect(events[0]?.id).toBeGreaterThan(first.id);
    expect(events[1]?.data).toEqual({ step: "fail-health", ms: 12 });
    const withEvents = await prisma.rollout.findUniqueOrThrow({
      where: { id: r.id },
      include: { events: { orderBy: { id: "desc" }, take: 1 } },
    });
    expect(withEvents.events[0]?.type).toBe("step.succeeded");
  });

  it("Webhook and WebhookDelivery: text[] events, defaults, deliveries go with their webhook and fleet", async () => {
    const fleet = await fleetWithTargets(db.prisma, []);
    const hook = await db.prisma.webhook.create({
      data: {
        name: "ops",
        url: "https://hooks.example/ebb",
        fleetId: fleet.id,
        events: ["rollout.failed", "rollout.aborted"],
        secretRef: "secret:env:HOOK",
      },
    });
    expect(hook).toMatchObject({ format: "json", events: ["rollout.failed", "rollout.aborted"] });
    const delivery = await db.prisma.webhookDelivery.create({
      data: { webhookId: hook.id, event: "rollout.failed", payload: { event: "rollout.failed" } },
    });
    expect(delivery).toMatchObject({
      status: "pending",
      attempts: 0,
      responseStatus: null,
      finishedAt: null,
    });
    await db.prisma.fleet.delete({ where: { id: fleet.id } });
    expect(await db.prisma.webhook.findUnique({ where: { id: hook.id } })).toBeNull();
    expect(await db.prisma.webhookDelivery.findUnique({ where: { id: delivery.id } })).toBeNull();
  });

  it("deletes cascade where the schema says so and are refused (P2003) elsewhere", async () => {
    const { prisma } = db;
    const fleet = await fleetWithTargets(prisma);
    const [vm1, vm2] = fleet.targets;
    if (!vm1 || !vm2) throw new Error("fixture");
    const rb = await runbook(prisma);
    const r = await rollout(prisma, fleet.id, rb.id);
    const run = await prisma.targetRun.create({
      data: { rolloutId: r.id, targetId: vm1.id, batch: 0, status: "running", stepIndex: 0, attempt: 1 },
    });
    await prisma.stepRun.create({
      data: { targetRunId: run.id, stepIndex: 0, stepId: "s", type: "exec", attempt: 1, status: "running" },
    });
    await prisma.lease.create({ data: { targetId: vm1.id, rolloutId: r.id, token: 1n } });
    await prisma.rolloutEvent.create({ data: { rolloutId: r.id, type: "rollout.started" } });

    // Restrict: rollouts keep their fleet, runbook version and targets.
    expect((await prismaError(prisma.fleet.delete({ where: { id: fleet.id } }))).code).toBe("P2003");
    expect((await prismaError(prisma.runbookVersion.delete({ where: { id: rb.id } }))).code).toBe("P2003");
    expect((await prismaError(prisma.target.delete({ where: { id: vm1.id } }))).code).toBe("P2003");

    // Cascade: a rollout takes its target runs, their step runs, its leases and its events with it.
    await prisma.rollout.delete({ where: { id: r.id } });
    expect(await prisma.targetRun.count({ where: { rolloutId: r.id } })).toBe(0);
    expect(await prisma.stepRun.count({ where: { targetRunId: run.id } })).toBe(0);
    expect(await prisma.lease.count({ where: { rolloutId: r.id } })).toBe(0);
    expect(await prisma.rolloutEvent.count({ where: { rolloutId: r.id } })).toBe(0);
    expect(await prisma.target.count({ where: { fleetId: fleet.id } })).toBe(2);

    // Cascade: a target takes its lease; a fleet takes its targets.
    const r2 = await rollout(prisma, fleet.id, rb.id);
    await prisma.lease.create({ data: { targetId: vm2.id, rolloutId: r2.id, token: 7n } });
    await prisma.target.delete({ where: { id: vm2.id } });
    expect(await prisma.lease.count({ where: { rolloutId: r2.id } })).toBe(0);
    await prisma.rollout.delete({ where: { id: r2.id } });
    await prisma.fleet.delete({ where: { id: fleet.id } });
    expect(await prisma.target.count({ where: { fleetId: fleet.id } })).toBe(0);
    await prisma.runbookVersion.delete({ where: { id: rb.id } });
  });

  it("foreign keys follow a changed primary key (ON UPDATE CASCADE)", async () => {
    const { prisma } = db;
    const fleet = await fleetWithTargets(prisma, ["vm1"]);
    const rb = await runbook(prisma);
    const r = await rollout(prisma, fleet.id, rb.id);
    const newFleetId = randomUUID();
    const newRunbookId = randomUUID();
    await prisma.$executeRaw`UPDATE fleets SET id = ${newFleetId}::uuid WHERE id = ${fleet.id}::uuid`;
    await prisma.$executeRaw`UPDATE runbook_versions SET id = ${newRunbookId}::uuid WHERE id = ${rb.id}::uuid`;
    expect(await prisma.target.count({ where: { fleetId: newFleetId } })).toBe(1);
    expect(await prisma.rollout.findUniqueOrThrow({ where: { id: r.id } })).toMatchObject({
      fleetId: newFleetId,
      runbookVersionId: newRunbookId,
    });
  });

  it("has Prisma's names for every primary key, unique index, index and foreign key", async () => {
    const indexes = await db.prisma.$queryRaw<{ name: string; def: string }[]>`
      SELECT indexname AS name, indexdef AS def FROM pg_indexes
      WHERE schemaname = 'public' AND tablename <> '_ebb_migrations' ORDER BY indexname`;
    expect(Object.fromEntries(indexes.map((i) => [i.name, i.def.replace(/^.* USING btree /, "")]))).toEqual({
      api_tokens_created_by_idx: "(created_by)",
      api_tokens_made_by_token_idx: "(made_by_token)",
      api_tokens_hash_key: "(hash)",
      api_tokens_pkey: "(id)",
      audit_events_action_id_idx: "(action, id)",
      audit_events_actor_id_id_idx: "(actor_id, id)",
      audit_events_actor_name_id_idx: "(actor_name, id)",
      audit_events_at_idx: "(at)",
      audit_events_fleet_id_idx: "(fleet, id)",
      audit_events_pkey: "(id)",
      audit_events_resource_type_resource_id_id_idx: "(resource_type, resource_id, id)",
      fleets_name_key: "(name)",
      fleets_pkey: "(id)",
      leases_pkey: "(target_id)",
      leases_rollout_id_idx: "(rollout_id)",
      rollout_events_pkey: "(id)",
      rollout_events_rollout_id_id_idx: "(rollout_id, id)",
      rollouts_created_at_id_idx: "(created_at DESC, id DESC)",
      rollouts_fleet_id_created_at_idx: "(fleet_id, created_at)",
      rollouts_idempotency_key_key: "(idempotency_key)",
      rollouts_pkey: "(id)",
      rollouts_rollback_of_idx: "(rollback_of)",
      rollouts_status_idx: "(status)",
      runbook_versions_name_checksum_key: "(name, checksum)",
      runbook_versions_name_version_key: "(name, version)",
      runbook_versions_pkey: "(id)",
      step_runs_pkey: "(id)",
      step_runs_target_run_id_step_index_attempt_key: "(target_run_id, step_index, attempt)",
      target_runs_pkey: "(id)",
      target_runs_rollout_id_target_id_key: "(rollout_id, target_id)",
      targets_fleet_id_name_key: "(fleet_id, name)",
      targets_pkey: "(id)",
      sessions_hash_key: "(hash)",
      sessions_pkey: "(id)",
      sessions_user_id_idx: "(user_id)",
      users_pkey: "(id)",
      users_username_key: "(username)",
      webhook_deliveries_pkey: "(id)",
      webhook_deliveries_status_idx: "(status)",
      webhook_deliveries_webhook_id_created_at_idx: "(webhook_id, created_at)",
      webhooks_fleet_id_idx: "(fleet_id)",
      webhooks_pkey: "(id)",
    });
    const uniques = indexes.filter((i) => i.def.startsWith("CREATE UNIQUE")).map((i) => i.name);
    expect(uniques.every((name) => name.endsWith("_key") || name.endsWith("_pkey"))).toBe(true);
    expect(
      indexes.filter((i) => i.name.endsWith("_idx")).every((i) => !i.def.startsWith("CREATE UNIQUE")),
    ).toBe(true);

    const foreignKeys = await db.prisma.$queryRaw<{ name: string; def: string }[]>`
      SELECT conname AS name, pg_get_constraintdef(oid) AS def FROM pg_constraint
      WHERE contype = 'f' AND connamespace = 'public'::regnamespace ORDER BY conname`;
    expect(Object.fromEntries(foreignKeys.map((fk) => [fk.name, fk.def]))).toEqual({
      api_tokens_created_by_fkey:
        "FOREIGN KEY (created_by) REFERENCES users(id) ON UPDATE CASCADE ON DELETE CASCADE",
      api_tokens_made_by_token_fkey:
        "FOREIGN KEY (made_by_token) REFERENCES api_tokens(id) ON UPDATE CASCADE ON DELETE CASCADE",
      sessions_user_id_fkey: "FOREIGN KEY (user_id) REFERENCES users(id) ON UPDATE CASCADE ON DELETE CASCADE",
      leases_rollout_id_fkey:
        "FOREIGN KEY (rollout_id) REFERENCES rollouts(id) ON UPDATE CASCADE ON DELETE CASCADE",
      leases_target_id_fkey:
        "FOREIGN KEY (target_id) REFERENCES targets(id) ON UPDATE CASCADE ON DELETE CASCADE",
      rollout_events_rollout_id_fkey:
        "FOREIGN KEY (rollout_id) REFERENCES rollouts(id) ON UPDATE CASCADE ON DELETE CASCADE",
      rollouts_fleet_id_fkey:
        "FOREIGN KEY (fleet_id) REFERENCES fleets(id) ON UPDATE CASCADE ON DELETE RESTRICT",
      rollouts_rollback_of_fkey:
        "FOREIGN KEY (rollback_of) REFERENCES rollouts(id) ON UPDATE CASCADE ON DELETE SET NULL",
      rollouts_runbook_version_id_fkey:
        "FOREIGN KEY (runbook_version_id) REFERENCES runbook_versions(id) ON UPDATE CASCADE ON DELETE RESTRICT",
      step_runs_target_run_id_fkey:
        "FOREIGN KEY (target_run_id) REFERENCES target_runs(id) ON UPDATE CASCADE ON DELETE CASCADE",
      target_runs_rollout_id_fkey:
        "FOREIGN KEY (rollout_id) REFERENCES rollouts(id) ON UPDATE CASCADE ON DELETE CASCADE",
      target_runs_target_id_fkey:
        "FOREIGN KEY (target_id) REFERENCES targets(id) ON UPDATE CASCADE ON DELETE RESTRICT",
      targets_fleet_id_fkey:
        "FOREIGN KEY (fleet_id) REFERENCES fleets(id) ON UPDATE CASCADE ON DELETE CASCADE",
      webhook_deliveries_webhook_id_fkey:
        "FOREIGN KEY (webhook_id) REFERENCES webhooks(id) ON UPDATE CASCADE ON DELETE CASCADE",
      webhooks_fleet_id_fkey:
        "FOREIGN KEY (fleet_id) REFERENCES fleets(id) ON UPDATE CASCADE ON DELETE CASCADE",
    });
  });

  it("has the schema's column types and nullability", async () => {
    const columns = await db.prisma.$queryRaw<{ col: string; type: string; nullable: string }[]>`
      SELECT table_name || '.' || column_name AS col,
             CASE WHEN data_type = 'timestamp with time zone' THEN 'timestamptz(' || datetime_precision || ')'
                  ELSE data_type END AS type,
             is_nullable AS nullable
      FROM information_schema.columns
      WHERE table_schema = 'public' AND table_name <> '_ebb_migrations'`;
    const byName = Object.fromEntries(
      columns.map((c) => [c.col, `${c.type}${c.nullable === "YES" ? "?" : ""}`]),
    );
    expect(byName).toMatchObject({
      "fleets.id": "uuid",
      "fleets.balancer_config": "jsonb",
      "fleets.protected": "boolean",
      "fleets.created_at": "timestamptz(3)",
      "targets.port": "integer",
      "rollouts.idempotency_key": "text?",
      "rollouts.started_at": "timestamptz(3)?",
      "target_runs.error": "jsonb?",
      "step_runs.output_tail": "text?",
      "leases.token": "bigint",
      "rollout_events.id": "bigint",
      "targets.version": "text?",
      "targets.gone_at": "timestamptz(3)?",
      "target_runs.previous_version": "text?",
      "rollouts.rollback_of": "uuid?",
    });
    // Every timestamp is timestamptz(3); every key a uuid except the event sequences, step_id (the
    // runbook's own step name), and principal ids (`user:<uuid>`, `token:<uuid>`, `system`) and the
    // audit history's references, which are text.
    const textIds = new Set([
      "rollout_events.id",
      "step_runs.step_id",
      "rollouts.requester_id",
      "rollouts.approver_id",
    ]);
    for (const [col, type] of Object.entries(byName)) {
      if (/_at$|\.at$/.test(col)) expect(type, col).toMatch(/^timestamptz\(3\)\??$/);
      if (/\.id$|_id$/.test(col) && !textIds.has(col) && !col.startsWith("audit_events.")) {
        // Nullable where the reference is optional (a webhook for every fleet, a delivery of no rollout).
        expect(type, col).toMatch(/^uuid\??$/);
      }
    }
    expect(Object.keys(byName)).toHaveLength(145);
  });
});
