import type { Balancer, BalancerTiming, DiscoveredTarget, RolloutEvent, RolloutState } from "@ebb/core";
import type { FleetRecord } from "@ebb/engine";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestDatabase, testDatabases } from "../../test-support/database.js";
import { upsertFleet } from "../fleets/upsert-fleet.js";
import { approveRollout } from "./approve-rollout.js";
import { type CreateDeps, createAndStartRollout } from "./create-rollout.js";
import { prepareRollout } from "./prepare-rollout.js";
import type { CreateRolloutInput } from "./rollout-input.js";
import { RolloutsRepository } from "./rollouts.repository.js";

// The use cases on a real (embedded) database, with a scripted balancer whose targets are all bound and an
// engine port that records what it was sent: no device, no queue, no worker.

const TIMING: BalancerTiming = {
  healthCheckIntervalMs: 100,
  retryCount: 1,
  checkTimeoutMs: 50,
  sessionIdleTimeoutMs: 1_000,
  mode: "l7",
  resetOnPortFail: false,
};

const allBound: Balancer = {
  kind: "l4",
  timing: async () => TIMING,
  observe: async () => ({ state: "up", bound: true, sessions: 0 }),
  traffic: async () => ({ at: new Date(0).toISOString(), activeSessions: 0, newSessions: 0, resets: 0 }),
};

/** A platform that runs pods of its own choosing (a Deployment): the test sets which. */
let pods: DiscoveredTarget[] = [];
const discovering: Balancer = { ...allBound, discoverTargets: async () => pods };

const LIMITS = { approvalTargetThreshold: 10, maxTargetsPerRollout: 100 };

describe("rollout use cases", () => {
  let db: TestDatabase;
  let deps: CreateDeps;
  const sent: { id: string; event: RolloutEvent }[] = [];

  beforeAll(async () => {
    db = await testDatabases()[0]!.open();
    const drivers = {
      balancer: (fleet: FleetRecord) => (fleet.name === "uc-pods" ? discovering : allBound),
    };
    deps = {
      prisma: db.prisma,
      rollouts: new RolloutsRepository(db.prisma),
      drivers,
      engine: {
        send: async (id: string, event: RolloutEvent) => {
          sent.push({ id, event });
          return {} as Awaited<ReturnType<CreateDeps["engine"]["send"]>>;
        },
      },
      now: Date.now,
    };
    for (const name of ["uc-a", "uc-b", "uc-c", "uc-d", "uc-rb", "uc-pods"]) {
      await upsertFleet(
        { prisma: db.prisma, drivers },
        {
          name,
          balancer: "l4",
          balancerConfig: { adminUrl: "http://127.0.0.1:9" },
          targets: [1, 2].map((n) => ({ name: `${name}-vm${n}`, host: `127.0.0.${n}`, port: 8080 })),
        },
      );
    }
  });

  afterAll(async () => {
    await db?.drop();
  });

  const input = (fleet: string, more: Partial<CreateRolloutInput> = {}): CreateRolloutInput => ({
    fleet,
    version: "2.0.0",
    strategy: { maxUnavailable: 1 },
    params: {},
    force: true,
    ...more,
  });

  it("prepare: an unknown fleet is not_found naming the field, and nothing is written", async () => {
    await expect(prepareRollout(deps, input("no-such-fleet"), LIMITS)).rejects.toMatchObject({
      code: "not_found",
      details: [{ field: "fleet", message: "unknown fleet" }],
    });
    expect(await db.prisma.rollout.count()).toBe(0);
  });

  it("prepare: plans one batch per target and asks for approval above the threshold", async () => {
    const prepared = await prepareRollout(deps, input("uc-a"), { ...LIMITS, approvalTargetThreshold: 1 });
    expect(prepared.plan.batches).toEqual([["uc-a-vm1"], ["uc-a-vm2"]]);
    expect(prepared.requiresApproval).toBe(true);
    expect(await db.prisma.rollout.count()).toBe(0);
  });

  it("create: leases every target and starts; a second rollout of the fleet is a conflict and stores nothing", async () => {
    const created = await createAndStartRollout(deps, input("uc-a"), LIMITS);
    expect(created.created).toBe(true);
    expect(sent).toContainEqual({ id: created.id, event: { type: "start" } });
    expect(await db.prisma.lease.count({ where: { rolloutId: created.id } })).toBe(2);

    await expect(createAndStartRollout(deps, input("uc-a"), LIMITS)).rejects.toMatchObject({
      code: "fleet_held",
      message: expect.stringContaining(created.id),
    });
    expect(await db.prisma.rollout.count({ where: { fleet: { name: "uc-a" } } })).toBe(1);
  });

  it("create: the same Idempotency-Key replays the first rollout; reused for another version it is refused", async () => {
    const first = await createAndStartRollout(deps, input("uc-b", { idempotencyKey: "k-1" }), LIMITS);
    const again = await createAndStartRollout(deps, input("uc-b", { idempotencyKey: "k-1" }), LIMITS);
    expect(again).toMatchObject({ id: first.id, created: false });
    await expect(
      createAndStartRollout(deps, input("uc-b", { idempotencyKey: "k-1", version: "9.9.9" }), LIMITS),
    ).rejects.toMatchObject({ code: "idempotency_key_reused", details: { rolloutId: first.id } });
    expect(await db.prisma.rollout.count({ where: { fleet: { name: "uc-b" } } })).toBe(1);
  });

  it("approve: not by its requester; by someone else once, which starts it", async () => {
    const alice = { name: "alice", id: "user:alice" };
    const created = await createAndStartRollout(deps, input("uc-c", { requestedBy: alice }), {
      ...LIMITS,
      approvalTargetThreshold: 0,
    });
    expect(created.requiresApproval).toBe(true);
    expect(sent.filter((s) => s.id === created.id)).toEqual([]);

    await expect(approveRollout(deps, created.id, alice)).rejects.toMatchObject({ code: "forbidden" });
    await approveRollout(deps, created.id, { name: "bob", id: "user:bob" });
    expect(sent.filter((s) => s.id === created.id)).toEqual([{ id: created.id, event: { type: "start" } }]);
    await expect(approveRollout(deps, created.id, { name: "carol", id: "user:carol" })).rejects.toMatchObject(
      {
        code: "invalid_transition",
      },
    );
  });

  it("a failed rollout holding the fleet: preview is blocked by a fleet_held finding, create names the holder and how to release it", async () => {
    // Given a rollout of uc-d that failed at uc-d-vm1's deploy, keeping both leases
    const failed = await createAndStartRollout(deps, input("uc-d"), LIMITS);
    const row = await db.prisma.rollout.findUniqueOrThrow({ where: { id: failed.id } });
    const state = row.state as unknown as RolloutState;
    const error = { code: "exec_failed" as const, message: "deploy exited 1 on uc-d-vm1" };
    state.status = "failed";
    Object.assign(state.targets["uc-d-vm1"]!, { status: "failed", attempt: 1, stepIndex: 4, error });
    state.failure = { target: "uc-d-vm1", stepIndex: 4, error };
    await db.prisma.rollout.update({
      where: { id: failed.id },
      data: { status: "failed", state: state as unknown as object },
    });

    // When someone previews, even forced, then creates another rollout of uc-d
    const preview = await prepareRollout(deps, input("uc-d", { force: true }), LIMITS);
    const refused = await createAndStartRollout(deps, input("uc-d"), LIMITS).catch((err: unknown) => err);

    // Then the preview is blocked and says why
    expect(preview.blocked).toBe(true);
    expect(preview.holds.map((h) => h.rolloutId)).toEqual([failed.id]);
    expect(preview.findings[0]).toMatchObject({ severity: "error", code: "fleet_held" });
    expect(preview.findings[0]!.message).toContain(failed.id);
    // and the create is refused with the holder, its status, its targets as they stand, and the way out
    expect(refused).toMatchObject({
      code: "fleet_held",
      details: {
        fleet: "uc-d",
        rolloutId: failed.id,
        status: "failed",
        failure: { target: "uc-d-vm1", message: error.message },
        targets: [
          {
            name: "uc-d-vm1",
            status: "failed",
            error: error.message,
            balancer: { state: "up", bound: true },
          },
          { name: "uc-d-vm2", status: "pending", balancer: { state: "up", bound: true } },
        ],
        release: [
          {
            action: "retry",
            command: `ebb rollout retry ${failed.id} --target uc-d-vm1`,
            path: `/api/v1/rollouts/${failed.id}/retry`,
            body: { target: "uc-d-vm1" },
          },
          {
            action: "abort",
            command: `ebb rollout abort ${failed.id}`,
            path: `/api/v1/rollouts/${failed.id}/abort`,
          },
        ],
      },
    });
    expect((refused as Error).message).toMatch(/failed at uc-d-vm1 .*deploy exited 1/);
    expect(await db.prisma.rollout.count({ where: { fleet: { name: "uc-d" } } })).toBe(1);
  });

  it("a fleet whose balancer discovers its targets: plans over the pods there now; create adds the new ones and marks the gone ones, audited; history is kept", async () => {
    // Given uc-pods registered with pods vm1 and vm2, which a rollout replaced by web-x and web-y (v2)
    pods = [
      { name: "web-y", host: "10.0.0.2", port: 8080, version: "2.0.0" },
      { name: "web-x", host: "10.0.0.1", port: 8080, version: "2.0.0" },
    ];
    const fleet = await db.prisma.fleet.findUniqueOrThrow({ where: { name: "uc-pods" } });

    // When a rollout is previewed: the plan is over web-x and web-y, nothing written
    const preview = await prepareRollout(deps, input("uc-pods"), LIMITS);
    expect(preview.plan.batches).toEqual([["web-x"], ["web-y"]]);
    expect(preview.plan.skipped).toEqual([]);
    expect(preview.discovery).toMatchObject({ gone: ["uc-pods-vm1", "uc-pods-vm2"] });
    expect(await db.prisma.target.count({ where: { fleetId: fleet.id } })).toBe(2);

    // and created: the same plan, the pods become targets (their version known), the old ones gone
    const created = await createAndStartRollout(deps, input("uc-pods"), LIMITS);
    expect(created.plan.batches).toEqual(preview.plan.batches);
    const rows = await db.prisma.target.findMany({ where: { fleetId: fleet.id }, orderBy: { name: "asc" } });
    expect(rows.map((t) => [t.name, t.goneAt !== null, t.version])).toEqual([
      ["uc-pods-vm1", true, null],
      ["uc-pods-vm2", true, null],
      ["web-x", false, "2.0.0"],
      ["web-y", false, "2.0.0"],
    ]);
    const runs = await db.prisma.targetRun.findMany({
      where: { rolloutId: created.id },
      include: { target: { select: { name: true } } },
    });
    expect(runs.map((r) => [r.target.name, r.previousVersion]).sort()).toEqual([
      ["web-x", "2.0.0"],
      ["web-y", "2.0.0"],
    ]);
    const audit = await db.prisma.auditEvent.findMany({
      where: { action: "fleet.discover", fleet: "uc-pods" },
    });
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      actorName: "ebb",
      summary: { added: ["web-x", "web-y"], gone: ["uc-pods-vm1", "uc-pods-vm2"], returned: [], moved: [] },
    });

    // When the rollout is over and web-x is replaced by web-z; vm1 comes back (same name, new address)
    await db.prisma.lease.deleteMany({ where: { rolloutId: created.id } });
    pods = [
      { name: "web-y", host: "10.0.0.2", port: 8080 },
      { name: "web-z", host: "10.0.0.3", port: 8080 },
      { name: "uc-pods-vm1", host: "10.0.0.9", port: 8080 },
    ];
    const next = await createAndStartRollout(deps, input("uc-pods", { version: "3.0.0" }), LIMITS);
    // Then web-x, which has history, keeps its row, gone; vm1 is back at its new address
    expect(next.plan.batches.flat().sort()).toEqual(["uc-pods-vm1", "web-y", "web-z"]);
    const after = await db.prisma.target.findMany({ where: { fleetId: fleet.id }, orderBy: { name: "asc" } });
    expect(after.map((t) => [t.name, t.goneAt !== null, t.host])).toEqual([
      ["uc-pods-vm1", false, "10.0.0.9"],
      ["uc-pods-vm2", true, "127.0.0.2"],
      ["web-x", true, "10.0.0.1"],
      ["web-y", false, "10.0.0.2"],
      ["web-z", false, "10.0.0.3"],
    ]);
    // and the same list again changes nothing: no second audit event for it
    await db.prisma.lease.deleteMany({ where: { rolloutId: next.id } });
    await createAndStartRollout(deps, input("uc-pods", { version: "4.0.0" }), LIMITS);
    expect(await db.prisma.auditEvent.count({ where: { action: "fleet.discover", fleet: "uc-pods" } })).toBe(
      2,
    );
  });

  it("create with onFailure rollback: refused, naming the targets, when a previous version is unknown or not shared", async () => {
    // No version recorded and no versionUrl to ask: unknown, never guessed.
    await expect(
      createAndStartRollout(deps, input("uc-rb", { onFailure: "rollback" }), LIMITS),
    ).rejects.toMatchObject({
      code: "rollback_unavailable",
      message: expect.stringContaining("previous version unknown for uc-rb-vm1, uc-rb-vm2"),
      details: [{ field: "onFailure" }],
    });
    await db.prisma.target.update({
      where: { fleetId_name: await key("uc-rb-vm1") },
      data: { version: "1.0.0" },
    });
    await db.prisma.target.update({
      where: { fleetId_name: await key("uc-rb-vm2") },
      data: { version: "0.9.0" },
    });
    await expect(
      createAndStartRollout(deps, input("uc-rb", { onFailure: "rollback" }), LIMITS),
    ).rejects.toMatchObject({ message: expect.stringContaining("uc-rb-vm1 ran 1.0.0; uc-rb-vm2 ran 0.9.0") });
    expect(await db.prisma.rollout.count({ where: { fleet: { name: "uc-rb" } } })).toBe(0);

    // One known version: created, and each target run keeps it as its previous version.
    await db.prisma.target.update({
      where: { fleetId_name: await key("uc-rb-vm2") },
      data: { version: "1.0.0" },
    });
    const created = await createAndStartRollout(deps, input("uc-rb", { onFailure: "rollback" }), LIMITS);
    const runs = await db.prisma.targetRun.findMany({ where: { rolloutId: created.id } });
    expect(runs.map((r) => r.previousVersion)).toEqual(["1.0.0", "1.0.0"]);
    const row = await db.prisma.rollout.findUniqueOrThrow({ where: { id: created.id } });
    expect((row.state as unknown as RolloutState).onFailure).toBe("rollback");
  });

  async function key(target: string) {
    const fleet = await db.prisma.fleet.findUniqueOrThrow({ where: { name: "uc-rb" } });
    return { fleetId: fleet.id, name: target };
  }
});
