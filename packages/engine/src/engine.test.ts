import { EbbError } from "@ebb/core";
import { describe, expect, it } from "vitest";
import { FakeBalancer, Harness, RUNBOOK } from "../test-support/memory.js";

const ID = "00000000-0000-4000-8000-000000000001";
const done = (h: Harness) => () => ["succeeded", "failed", "aborted"].includes(h.state(ID).status);

describe("engine: happy path", () => {
  it("runs every step of every target in order, one batch at a time, and releases the leases", async () => {
    const h = new Harness();
    h.addRollout();
    await h.engine.send(ID, { type: "start" });
    await h.queue.runUntilIdle();
    expect(h.state(ID).status).toBe("succeeded");
    const steps = ["health fail", "stop", "deploy", "start", "health restore"];
    expect(h.ran()).toEqual([
      ...steps.map((s) => `vm1: ebb-vm ${s}`),
      ...steps.map((s) => `vm2: ebb-vm ${s}`),
    ]);
    expect(h.store.leases.size).toBe(0);
    expect(h.store.notices.map((n) => n.notice.type)).toContain("rollout.status");
  });

  it("waits on the balancer: a target is not stopped before the balancer reports it unbound", async () => {
    const h = new Harness(["vm1"], { followCommands: false });
    h.addRollout();
    await h.engine.send(ID, { type: "start" });
    await h.queue.runUntilIdle({ maxMs: 5_000 });
    expect(h.ran()).toEqual(["vm1: ebb-vm health fail"]);
    expect(h.state(ID).targets.vm1!.status).toBe("waiting");
    h.balancer.set("vm1", { state: "failed", bound: false });
    await h.queue.runUntilIdle({ until: () => h.commands.length > 1 });
    expect(h.ran()[1]).toBe("vm1: ebb-vm stop");
  });
});

describe("engine: failures and timeouts", () => {
  it("a failing command fails the target and halts the rollout; the lease is kept for retry or abort", async () => {
    const h = new Harness();
    h.execResult = (_t, argv) => (argv.includes("deploy") ? { exitCode: 3, outputTail: "disk full\n" } : {});
    h.addRollout();
    await h.engine.send(ID, { type: "start" });
    await h.queue.runUntilIdle();
    const s = h.state(ID);
    expect(s.status).toBe("failed");
    expect(s.targets.vm1!.error).toMatchObject({ code: "exec_failed" });
    expect(s.targets.vm1!.error!.message).toContain("disk full");
    expect(h.ran().some((l) => l.startsWith("vm2"))).toBe(false);
    expect(h.store.leases.get("vm1")?.rolloutId).toBe(ID);
  });

  it("a wait that never comes true fails with step_timeout at its deadline, not before", async () => {
    const h = new Harness(["vm1"], { followCommands: false });
    h.addRollout();
    await h.engine.send(ID, { type: "start" });
    await h.queue.runUntilIdle({ until: () => h.state(ID).targets.vm1!.status === "waiting" });
    const deadline = h.state(ID).targets.vm1!.deadline!;
    await h.queue.runUntilIdle({ until: done(h) });
    expect(h.state(ID).status).toBe("failed");
    expect(h.state(ID).targets.vm1!.error?.code).toBe("step_timeout");
    expect(h.clock.now()).toBeGreaterThanOrEqual(deadline);
  });

  it("an unreachable balancer is a condition to re-check, not a failure, until the deadline", async () => {
    const h = new Harness(["vm1"]);
    h.addRollout();
    let down = true;
    // A retryable EbbError, as drivers raise when the device cannot be reached.
    h.balancer.onObserve = () => {
      if (down) throw new EbbError("balancer_unavailable", "device unreachable");
    };
    await h.engine.send(ID, { type: "start" });
    await h.queue.runUntilIdle({ maxMs: 5_000 });
    expect(h.state(ID).targets.vm1!.status).toBe("waiting");
    down = false;
    await h.queue.runUntilIdle({ until: done(h) });
    expect(h.state(ID).status).toBe("succeeded");
  });
});

describe("engine: operators", () => {
  it("pause holds targets at the next step boundary; resume carries on", async () => {
    const h = new Harness(["vm1"], { followCommands: false });
    h.addRollout();
    await h.engine.send(ID, { type: "start" });
    await h.queue.runUntilIdle({ maxMs: 1_000 });
    await h.engine.send(ID, { type: "pause", by: "ops" });
    h.balancer.set("vm1", { state: "failed", bound: false });
    await h.queue.runUntilIdle({ maxMs: 60_000 });
    expect(h.state(ID).status).toBe("paused");
    expect(h.ran()).toEqual(["vm1: ebb-vm health fail"]);
    await h.engine.send(ID, { type: "resume", by: "ops" });
    h.onRun = (t, argv) => {
      if (argv.join(" ") === "ebb-vm health restore") h.balancer.set(t, { state: "up", bound: true });
    };
    await h.queue.runUntilIdle({ until: done(h) });
    expect(h.state(ID).status).toBe("succeeded");
  });

  it("abort restores a drained target (start, health restore, bound again) and skips the rest", async () => {
    const h = new Harness();
    h.addRollout();
    await h.engine.send(ID, { type: "start" });
    await h.queue.runUntilIdle({ until: () => h.ran().includes("vm1: ebb-vm stop") });
    await h.engine.send(ID, { type: "abort", by: "ops" });
    await h.queue.runUntilIdle({ until: done(h) });
    const s = h.state(ID);
    expect(s.status).toBe("aborted");
    expect(s.targets.vm1!.status).toBe("restored");
    expect(s.targets.vm2!.status).toBe("skipped");
    expect(h.ran().slice(-2)).toEqual(["vm1: ebb-vm start", "vm1: ebb-vm health restore"]);
    expect(h.store.leases.size).toBe(0);
  });

  it("retry re-runs the failed step with the next attempt and completes", async () => {
    const h = new Harness(["vm1"]);
    let fail = true;
    h.execResult = (_t, argv) => (argv.includes("deploy") && fail ? { exitCode: 1 } : {});
    h.addRollout();
    await h.engine.send(ID, { type: "start" });
    await h.queue.runUntilIdle();
    expect(h.state(ID).status).toBe("failed");
    fail = false;
    await h.engine.send(ID, { type: "retry", target: "vm1", by: "ops" });
    await h.queue.runUntilIdle({ until: done(h) });
    expect(h.state(ID).status).toBe("succeeded");
    expect(h.ran().filter((l) => l.endsWith("deploy"))).toHaveLength(2);
  });
});

describe("engine: fencing, wake-ups, reconciler", () => {
  it("refuses a result carrying a stale lease token: nothing of it is applied", async () => {
    const h = new Harness(["vm1"], { followCommands: false });
    h.addRollout();
    await h.engine.send(ID, { type: "start" });
    await h.queue.runUntilIdle({ maxMs: 1_000 });
    const before = JSON.stringify(h.state(ID));
    const [job] = h.queue.pending("step.run");
    const stale = { ...(job!.payload as Record<string, unknown>), leaseToken: "1" };
    h.balancer.set("vm1", { state: "failed", bound: false });
    const result = await h.engine.process({ name: "step.run", data: stale, id: "stale", canDelay: true });
    expect(result).toEqual({ kind: "done" });
    expect(JSON.stringify(h.state(ID))).toBe(before);
    expect(h.logs.join("\n")).toContain("no longer holds the lease on vm1");
  });

  it("a balancer change while a check runs makes the next check immediate instead of a slow poll", async () => {
    const balancer = new FakeBalancer(["vm1"]).withEvents();
    const h = new Harness(["vm1"], { balancer, followCommands: false });
    h.addRollout();
    await h.engine.send(ID, { type: "start" });
    await h.queue.runUntilIdle({ maxMs: 1 });
    // First check of await-unbound: nothing yet, back to the (slow, watched) delayed set.
    await h.queue.runUntilIdle({
      maxJobs: 2,
      until: () => h.queue.pending("step.run")[0]?.state === "delayed",
    });
    const job = h.queue.pending("step.run")[0]!;
    const slowPoll = job.runAt - h.clock.now();
    // The next check starts; the device reports the change while it looks (after its observe).
    job.runAt = h.clock.now();
    job.state = "waiting";
    balancer.onObserve = () => {
      balancer.onObserve = undefined;
      queueMicrotask(() => balancer.set("vm1", { sessions: 1 }));
    };
    await h.queue.runUntilIdle({ maxJobs: 1 });
    const again = h.queue.pending("step.run")[0]!;
    expect(slowPoll).toBeGreaterThan(10_000);
    expect(again.runAt - h.clock.now()).toBeLessThanOrEqual(1);
  });

  it("wakes a delayed wait the moment its balancer reports a change for its target", async () => {
    const balancer = new FakeBalancer(["vm1"]).withEvents();
    const h = new Harness(["vm1"], { balancer, followCommands: false });
    h.addRollout();
    await h.engine.send(ID, { type: "start" });
    await h.queue.runUntilIdle({ maxJobs: 2 });
    const job = h.queue.pending("step.run")[0]!;
    expect(job.state).toBe("delayed");
    balancer.set("vm1", { state: "failed", bound: false });
    expect(h.queue.promoted).toContain(job.id);
    expect(job.runAt).toBe(h.clock.now());
  });

  it("counts its work: balancer events, wake-ups, checks, quiet checks, reconciler passes", async () => {
    const balancer = new FakeBalancer(["vm1"]).withEvents();
    const h = new Harness(["vm1"], { balancer, followCommands: false });
    h.addRollout();
    await h.engine.send(ID, { type: "start" });
    await h.queue.runUntilIdle({ until: () => h.state(ID).targets.vm1!.status === "waiting" });
    const job = h.queue.pending("step.run")[0]!;
    // A poll that sees nothing new: a quiet check.
    job.runAt = h.clock.now();
    job.state = "waiting";
    await h.queue.runUntilIdle({ maxJobs: 1 });
    const before = { ...h.engine.stats };
    balancer.set("vm1", { state: "failed", bound: false });
    await h.queue.runUntilIdle({ maxJobs: 1 });
    await h.engine.reconcile();
    expect(before.quietChecks).toBe(1);
    expect(h.engine.stats.balancerEvents - before.balancerEvents).toBe(1);
    expect(h.engine.stats.wakeUps - before.wakeUps).toBe(1);
    expect(h.engine.stats.checks - before.checks).toBe(1);
    expect(h.engine.stats.quietChecks - before.quietChecks).toBe(0);
    expect(h.engine.stats.reconciles - before.reconciles).toBe(1);
  });

  it("a poll that sees the stored observation again writes nothing, whatever order the store gives its keys", async () => {
    const h = new Harness(["vm1"], { followCommands: false });
    h.addRollout();
    await h.engine.send(ID, { type: "start" });
    await h.queue.runUntilIdle({ until: () => h.state(ID).targets.vm1!.status === "waiting" });
    // PostgreSQL's jsonb hands the observation back with its keys reordered.
    const run = h.state(ID).targets.vm1!;
    const step = run.steps[run.stepIndex]!;
    const stored = step.observation as Record<string, unknown>;
    step.observation = Object.fromEntries(Object.entries(stored).reverse());
    expect(JSON.stringify(step.observation)).not.toBe(JSON.stringify(stored));
    const before = { transactions: h.store.transactions, quiet: h.engine.stats.quietChecks };
    const job = h.queue.pending("step.run")[0]!;
    job.runAt = h.clock.now();
    job.state = "waiting";
    await h.queue.runUntilIdle({ maxJobs: 1 });
    expect(h.store.transactions).toBe(before.transactions);
    expect(h.engine.stats.quietChecks).toBe(before.quiet + 1);
    expect(h.queue.jobs.get(job.id)?.state).toBe("delayed");
  });

  it("the reconciler re-creates a lost job and the rollout completes", async () => {
    const h = new Harness(["vm1"]);
    h.addRollout();
    await h.engine.send(ID, { type: "start" });
    for (const j of h.queue.pending()) await h.queue.remove(j.id);
    expect(h.queue.pending()).toHaveLength(0);
    expect(await h.engine.reconcile()).toEqual({ rollouts: 1, recreated: 1 });
    // Idempotent: the job exists now.
    expect((await h.engine.reconcile()).recreated).toBe(0);
    await h.queue.runUntilIdle({ until: done(h) });
    expect(h.state(ID).status).toBe("succeeded");
  });

  it("the reconciler leaves alone a job whose step ended between its read of the state and of the queue", async () => {
    const h = new Harness(["vm1"], { followCommands: false });
    h.addRollout();
    await h.engine.send(ID, { type: "start" });
    await h.queue.runUntilIdle({ until: () => h.state(ID).targets.vm1!.status === "waiting" });
    const [waitJob] = h.queue.pending("step.run");
    const waitingAt = h.state(ID).targets.vm1!.stepIndex;
    // The reconciler has read the state (vm1 waiting on await-unbound); before it asks the queue, the device
    // fails vm1, the check commits the step's end and its job completes.
    const state = h.queue.state.bind(h.queue);
    h.queue.state = async (id) => {
      if (id === waitJob!.id && h.state(ID).targets.vm1!.stepIndex === waitingAt) {
        h.balancer.set("vm1", { state: "failed", bound: false });
        waitJob!.runAt = h.clock.now();
        await h.queue.runUntilIdle({ maxJobs: 1 });
      }
      return state(id);
    };
    expect(await h.engine.reconcile()).toEqual({ rollouts: 1, recreated: 0 });
    expect(h.state(ID).targets.vm1!.stepIndex).toBe(waitingAt + 1);
    expect(h.queue.jobs.get(waitJob!.id)?.state).toBe("completed");
  });

  it("a queue that refuses jobs (Redis down) does not fail a committed transition; the reconciler adds the job", async () => {
    const h = new Harness(["vm1"]);
    h.addRollout();
    const add = h.queue.add.bind(h.queue);
    h.queue.add = async () => {
      throw new Error("Stream isn't writeable and enableOfflineQueue options is false");
    };
    // The start commits (an operator's command answers with it) although its job cannot be written
    await h.engine.send(ID, { type: "start" });
    expect(h.state(ID).targets.vm1!.status).toBe("running");
    expect(h.queue.pending()).toHaveLength(0);
    // Once the queue takes jobs again, the reconciler adds it and the rollout completes
    h.queue.add = add;
    expect((await h.engine.reconcile()).recreated).toBe(1);
    await h.queue.runUntilIdle({ until: done(h) });
    expect(h.state(ID).status).toBe("succeeded");
  });

  it("events for one rollout that arrive together commit in one transaction", async () => {
    const h = new Harness(["vm1", "vm2"]);
    h.addRollout(ID, RUNBOOK, [["vm1", "vm2"]]);
    await h.engine.send(ID, { type: "start" });
    const before = h.store.transactions;
    // Five events sent at once: the first takes the lock, the four others wait and commit together.
    await Promise.all(
      ["pause", "resume", "pause", "resume", "pause"].map((type) => h.engine.send(ID, { type } as never)),
    );
    expect(h.store.transactions - before).toBe(2);
    expect(h.state(ID).status).toBe("paused");
  });
});

describe("engine: capabilities", () => {
  const ADMIN = `apiVersion: ebb/v1
kind: Runbook
name: t
balancer: l4
steps:
  - { id: disable, type: balancer.disable }
  - { id: deploy, type: exec, run: [ebb-vm, deploy] }
  - { id: enable, type: balancer.enable }
`;

  it("balancer.disable is done when the balancer reports the target disabled, not when the call returned", async () => {
    let applies = false;
    const balancer = new FakeBalancer(["vm1"]).withAdmin(() => applies);
    const h = new Harness(["vm1"], { balancer, followCommands: false });
    h.addRollout(ID, ADMIN);
    await h.engine.send(ID, { type: "start" });
    await h.queue.runUntilIdle({ maxMs: 3_000 });
    expect(h.ran()).toEqual([]);
    expect(h.state(ID).targets.vm1!.status).toBe("waiting");
    applies = true;
    await h.queue.runUntilIdle({ until: done(h) });
    expect(h.state(ID).status).toBe("succeeded");
    expect(h.ran()).toEqual(["vm1: ebb-vm deploy"]);
  });

  it("a step that needs a capability the balancer lacks fails naming both", async () => {
    const h = new Harness(["vm1"]);
    h.addRollout(ID, ADMIN);
    await h.engine.send(ID, { type: "start" });
    await h.queue.runUntilIdle();
    expect(h.state(ID).status).toBe("failed");
    expect(h.state(ID).targets.vm1!.error!.message).toContain(
      "the l4 balancer has no admin API for balancer.disable",
    );
  });

  it("a k8s.* step on a balancer without pods fails naming the balancer", async () => {
    const h = new Harness(["vm1"]);
    h.addRollout(
      ID,
      `apiVersion: ebb/v1
kind: Runbook
name: p
balancer: kubernetes
steps:
  - { id: gate, type: k8s.setReadiness, ready: false }
`,
    );
    await h.engine.send(ID, { type: "start" });
    await h.queue.runUntilIdle();
    expect(h.state(ID).targets.vm1!.error!.message).toContain("needs a fleet whose balancer manages pods");
  });
});

describe("engine: after an outage of Ebb itself", () => {
  it("a wait whose deadline passed while nobody could check gets its full timeout again, once, and then says so", async () => {
    const h = new Harness(["vm1"], { followCommands: false });
    h.addRollout();
    await h.engine.send(ID, { type: "start" });
    await h.queue.runUntilIdle({ until: () => h.state(ID).targets.vm1!.status === "waiting" });
    const first = h.state(ID).targets.vm1!.deadline!;
    // Nothing ran for a minute past the deadline (Redis, the database or every worker was down).
    h.clock.ms = first + 60_000;
    for (const j of h.queue.pending()) j.runAt = h.clock.ms;
    await h.queue.runUntilIdle({ maxJobs: 1 });
    const run = h.state(ID).targets.vm1!;
    expect(run.status).toBe("waiting");
    expect(run.deadline).toBeGreaterThan(h.clock.now());
    // The balancer never unbinds it: the step fails at the new deadline, naming the outage.
    await h.queue.runUntilIdle({ until: done(h) });
    expect(h.state(ID).targets.vm1!.error!.message).toContain("Ebb could not check it for 1m");
  });

  it("a command that could not be launched on time gets its full deadline from its launch", async () => {
    const h = new Harness(["vm1"]);
    h.addRollout();
    await h.engine.send(ID, { type: "start" });
    const dispatchedDeadline = h.state(ID).targets.vm1!.deadline!;
    h.clock.ms = dispatchedDeadline + 30_000;
    h.onRun = (t, argv) => {
      if (argv.join(" ") === "ebb-vm health fail") h.balancer.set(t, { state: "failed", bound: false });
      if (argv.join(" ") === "ebb-vm health restore") h.balancer.set(t, { state: "up", bound: true });
    };
    await h.queue.runUntilIdle({ until: done(h) });
    expect(h.state(ID).status).toBe("succeeded");
  });
});

describe("engine: approvals expire (#13 §1.6)", () => {
  it("a rollout waiting for a second person past the TTL is aborted by the reconciler, and only then", async () => {
    const h = new Harness(["vm1"], { approvalTtlMs: 3_600_000 });
    h.addRollout();
    h.store.rollouts.get(ID)!.approvalPending = true;
    // not yet: an hour has not passed
    h.clock.ms += 3_599_000;
    await h.engine.reconcile();
    expect(h.state(ID).status).toBe("pending");
    // past it: aborted, saying why, and nothing of it runs
    h.clock.ms += 2_000;
    await h.engine.reconcile();
    expect(h.state(ID).status).toBe("aborted");
    expect(h.logs.join("\n")).toMatch(/approval expired.*nobody approved it within 1h/);
    expect(h.state(ID).targets.vm1!.status).toBe("skipped");
    expect(h.queue.pending()).toHaveLength(0);
  });

  it("without a TTL it waits for ever", async () => {
    const h = new Harness(["vm1"]);
    h.addRollout();
    h.store.rollouts.get(ID)!.approvalPending = true;
    h.clock.ms += 30 * 86_400_000;
    await h.engine.reconcile();
    expect(h.state(ID).status).toBe("pending");
  });
});
