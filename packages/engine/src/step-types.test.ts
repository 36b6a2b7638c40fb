import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { PodControl, PodView } from "@ebb/core";
import { afterEach, describe, expect, it } from "vitest";
import { FakeBalancer, Harness } from "../test-support/memory.js";

// The happy path of every step type the other suites do not walk (exec and the balancer waits are in
// engine.test.ts), each on the in-memory ports.
const ID = "00000000-0000-4000-8000-000000000002";
const done = (h: Harness) => () => ["succeeded", "failed", "aborted"].includes(h.state(ID).status);
const runbook = (steps: string) => `apiVersion: ebb/v1
kind: Runbook
name: t
balancer: l4
steps:
${steps}`;

let server: Server | undefined;
afterEach(async () => {
  server?.close();
  server = undefined;
});

describe("step types: happy paths", () => {
  it("traffic.awaitQuiet holds until no new session arrived for its hold time", async () => {
    const h = new Harness(["vm1"]);
    h.addRollout(ID, runbook("  - { id: quiet, type: traffic.awaitQuiet, holdFor: 2s }\n"));
    h.balancer.newSessions.set("vm1", 3);
    await h.engine.send(ID, { type: "start" });
    const started = h.clock.now();
    await h.queue.runUntilIdle({ until: done(h) });
    expect(h.state(ID).status).toBe("succeeded");
    expect(h.clock.now() - started).toBeGreaterThanOrEqual(2_000);
  });

  it("sleep is done after its duration", async () => {
    const h = new Harness(["vm1"]);
    h.addRollout(ID, runbook("  - { id: nap, type: sleep, duration: 5s }\n"));
    await h.engine.send(ID, { type: "start" });
    const started = h.clock.now();
    await h.queue.runUntilIdle({ until: done(h) });
    expect(h.state(ID).status).toBe("succeeded");
    expect(h.clock.now() - started).toBeGreaterThanOrEqual(5_000);
  });

  it("http.check passes on the expected status and body, and fails naming what it got", async () => {
    server = createServer((req, res) => res.end(req.url === "/ok" ? "version 2.0.0" : "nope"));
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const { port } = server.address() as AddressInfo;
    const h = new Harness(["vm1"]);
    const url = `http://127.0.0.1:${port}`;
    h.addRollout(
      ID,
      runbook(
        `  - { id: ok, type: http.check, url: "${url}/ok", bodyIncludes: "\${params.version}" }\n` +
          `  - { id: bad, type: http.check, url: "${url}/bad", bodyIncludes: "2.0.0", retries: 0 }\n`,
      ),
    );
    await h.engine.send(ID, { type: "start" });
    await h.queue.runUntilIdle({ until: done(h) });
    const run = h.state(ID).targets.vm1!;
    expect(run.steps[0]!.status).toBe("succeeded");
    expect(run.error).toMatchObject({ code: "verify_failed" });
    expect(run.error!.message).toContain('body does not include "2.0.0"');
  });

  it("approval waits for a person, then the target carries on", async () => {
    const h = new Harness(["vm1"]);
    h.addRollout(
      ID,
      runbook(
        '  - { id: gate, type: approval, message: "go?" }\n  - { id: x, type: exec, run: [ebb-vm, deploy] }\n',
      ),
    );
    await h.engine.send(ID, { type: "start" });
    await h.queue.runUntilIdle({ maxMs: 1_000 });
    expect(h.state(ID).targets.vm1!.status).toBe("awaitingApproval");
    expect(h.queue.pending("approval.timeout")).toHaveLength(1);
    await h.engine.send(ID, { type: "approve", target: "vm1", by: "ops" });
    await h.queue.runUntilIdle({ until: done(h) });
    expect(h.state(ID).status).toBe("succeeded");
    expect(h.ran()).toEqual(["vm1: ebb-vm deploy"]);
  });

  it("an approval gate's timeout job lost with Redis comes back with its own deadline, not at once", async () => {
    const h = new Harness(["vm1"]);
    h.addRollout(
      ID,
      runbook(
        "  - { id: gate, type: approval, timeout: 1h }\n  - { id: x, type: exec, run: [ebb-vm, deploy] }\n",
      ),
    );
    await h.engine.send(ID, { type: "start" });
    await h.queue.runUntilIdle({ maxMs: 1_000 });
    const [lost] = h.queue.pending("approval.timeout");
    const due = lost!.runAt;
    for (const j of h.queue.pending()) await h.queue.remove(j.id);
    expect(await h.engine.reconcile()).toMatchObject({ recreated: 1 });
    const [again] = h.queue.pending("approval.timeout");
    expect(again!.runAt).toBe(due);
    await h.queue.runUntilIdle({ maxMs: 1_000 });
    expect(h.state(ID).targets.vm1!.status).toBe("awaitingApproval");
  });

  it("k8s.* steps drive the balancer's pods: gate, endpoint gone and propagated, delete, replacement ready", async () => {
    const calls: string[] = [];
    let pod: PodView = { uid: "u1", host: "10.0.0.1", version: "1.0.0", ready: true, gate: "True" };
    let removedAt: number | undefined;
    const pods: PodControl = {
      config: { propagationWindowMs: 1_000, timeScale: 1 },
      pod: async () => pod,
      setReadiness: async (_name, ready) => {
        calls.push(`gate ${ready}`);
        pod = { ...pod, gate: ready ? "True" : "False", ready };
        removedAt = h.clock.now();
        return { method: "gate", changed: true, pod };
      },
      checkEndpointRemoved: async () => ({
        removed: removedAt !== undefined,
        ...(removedAt ? { removedAt } : {}),
      }),
      setTemplateVersion: async (version) => {
        calls.push(`template ${version}`);
        return { revision: "r2" };
      },
      deletePod: async () => {
        calls.push("delete");
        return { outcome: "deleting", uid: pod.uid };
      },
      checkPodGone: async () => {
        pod = { uid: "u2", host: "10.0.0.2", version: "2.0.0", ready: true, gate: "True" };
        return true;
      },
      checkReplacementReady: async (_name, version) => ({
        ready: pod.version === version,
        reason: "ready",
        pod,
      }),
      restore: async () => pod,
    };
    const balancer = new FakeBalancer(["web-0"]);
    Object.assign(balancer, { pods: async () => pods });
    const h = new Harness(["web-0"], { balancer });
    h.addRollout(
      ID,
      runbook(
        "  - { id: gate, type: k8s.setReadiness, ready: false }\n" +
          "  - { id: gone, type: k8s.awaitEndpointRemoved }\n" +
          "  - { id: delete, type: k8s.deletePod }\n" +
          "  - { id: ready, type: k8s.awaitReplacementReady }\n",
      ).replace("balancer: l4", "balancer: kubernetes"),
    );
    await h.engine.send(ID, { type: "start" });
    const started = h.clock.now();
    await h.queue.runUntilIdle({ until: done(h) });
    expect(h.state(ID).status).toBe("succeeded");
    expect(calls).toEqual(["gate false", "template 2.0.0", "delete"]);
    // The endpoint's removal counts only once the propagation window has passed.
    expect(h.clock.now() - started).toBeGreaterThanOrEqual(1_000);
  });
});

describe("k8s.setReadiness and the rollout's maxSurge", () => {
  /** A pod fleet whose one pod goes out and comes back at once; the calls in order. */
  function givenPods(h: Harness, calls: string[], surge: boolean): PodControl {
    let pod: PodView = { uid: "u1", host: "10.0.0.1", version: "1.0.0", ready: true, gate: "True" };
    return {
      config: { propagationWindowMs: 0, timeScale: 1 },
      pod: async () => pod,
      setReadiness: async (_name, ready) => {
        calls.push(`gate ${ready}`);
        pod = { ...pod, gate: ready ? "True" : "False", ready };
        return { method: "gate", changed: true, pod };
      },
      checkEndpointRemoved: async () => ({ removed: true, removedAt: h.clock.now() }),
      setTemplateVersion: async () => ({ revision: "r2" }),
      deletePod: async () => ({ outcome: "deleted", uid: pod.uid }),
      checkPodGone: async () => true,
      checkReplacementReady: async () => {
        pod = { uid: "u2", host: "10.0.0.2", version: "2.0.0", ready: true, gate: "True" };
        return { ready: true, reason: "ready", pod };
      },
      restore: async () => pod,
      ...(surge
        ? {
            startReplacements: async (version: string, maxSurge: number) => {
              calls.push(`surge ${version} ${maxSurge}`);
              return { surged: true, replicas: 2 };
            },
          }
        : {}),
    };
  }

  async function roll(maxSurge: number | undefined, surge = true) {
    const calls: string[] = [];
    const balancer = new FakeBalancer(["web-0"]);
    const h = new Harness(["web-0"], { balancer });
    Object.assign(balancer, { pods: async () => givenPods(h, calls, surge) });
    h.addRollout(
      ID,
      runbook(
        "  - { id: out, type: k8s.setReadiness, ready: false }\n" +
          "  - { id: delete, type: k8s.deletePod }\n" +
          "  - { id: back, type: k8s.setReadiness, ready: true }\n",
      ).replace("balancer: l4", "balancer: kubernetes"),
    );
    if (maxSurge !== undefined) h.store.rollouts.get(ID)!.statics.maxSurge = maxSurge;
    await h.engine.send(ID, { type: "start" });
    await h.queue.runUntilIdle({ until: done(h) });
    expect(h.state(ID).status).toBe("succeeded");
    return { calls, observation: h.state(ID).targets["web-0"]!.steps[0]!.observation };
  }

  it("with maxSurge the take-out starts the replacements first (not the put-back), and records how far", async () => {
    const { calls, observation } = await roll(1);
    expect(calls).toEqual(["surge 2.0.0 1", "gate false", "gate true"]);
    expect(observation).toMatchObject({ surgedTo: 2 });
  });

  it("without maxSurge (or where the pods cannot surge) nothing else is called, and the observation is as before", async () => {
    for (const [maxSurge, surge] of [
      [undefined, true],
      [0, true],
      [1, false],
    ] as const) {
      const { calls, observation } = await roll(maxSurge, surge);
      expect(calls).toEqual(["gate false", "gate true"]);
      expect(Object.keys(observation ?? {}).sort()).toEqual(["changed", "gate", "method", "ready", "uid"]);
    }
  });
});

describe("exec at most once (#13 §2)", () => {
  const twoSteps = (extra = "") =>
    runbook(
      `  - { id: migrate, type: exec, run: [db-migrate]${extra} }\n  - { id: after, type: exec, run: [ebb-vm, start], idempotent: true }\n`,
    );
  const launchedBeforeACrash = (h: Harness) =>
    h.engine.send(ID, { type: "step.launched", target: "vm1", stepIndex: 0, attempt: 1 });

  it("commits the launch of a non-idempotent command before running it, once", async () => {
    const h = new Harness(["vm1"]);
    h.addRollout(ID, twoSteps());
    let launchedWhenRun: number | undefined;
    h.onRun = (_t, argv) => {
      if (argv[0] === "db-migrate") launchedWhenRun = h.state(ID).targets.vm1!.steps[0]!.launchedAt;
    };
    await h.engine.send(ID, { type: "start" });
    await h.queue.runUntilIdle({ until: done(h) });
    expect(h.state(ID).status).toBe("succeeded");
    expect(launchedWhenRun).toBeTypeOf("number");
    expect(h.ran()).toEqual(["vm1: db-migrate", "vm1: ebb-vm start"]);
  });

  it("a launch with no result is not run again: the target stops with outcome_unknown until a person skips", async () => {
    const h = new Harness(["vm1"]);
    h.addRollout(ID, twoSteps());
    await h.engine.send(ID, { type: "start" });
    // A worker committed the launch, then died before it reported; the job comes back (stalled, reconciled)
    await launchedBeforeACrash(h);
    await h.queue.runUntilIdle({ until: done(h) });
    const s = h.state(ID);
    expect(s.status).toBe("failed");
    expect(s.failure!.error.code).toBe("outcome_unknown");
    expect(s.failure!.error.message).toMatch(
      /never reported.*`retry` runs it again, `skip` counts it as done/,
    );
    expect(h.ran()).toEqual([]);
    // a person checked: the migration ran; skip counts it as done and the target goes on
    await h.engine.send(ID, { type: "skip", target: "vm1", by: "ops" });
    await h.queue.runUntilIdle({ until: done(h) });
    expect(h.state(ID).status).toBe("succeeded");
    expect(h.state(ID).targets.vm1!.steps[0]).toMatchObject({
      status: "skipped",
      observation: { skippedBy: "ops" },
    });
    expect(h.ran()).toEqual(["vm1: ebb-vm start"]);
  });

  it("retry after outcome_unknown runs the command again, as the person asked", async () => {
    const h = new Harness(["vm1"]);
    h.addRollout(ID, twoSteps());
    await h.engine.send(ID, { type: "start" });
    await launchedBeforeACrash(h);
    await h.queue.runUntilIdle({ until: done(h) });
    await h.engine.send(ID, { type: "retry", target: "vm1" });
    await h.queue.runUntilIdle({ until: done(h) });
    expect(h.state(ID).status).toBe("succeeded");
    expect(h.ran()).toEqual(["vm1: db-migrate", "vm1: ebb-vm start"]);
  });

  it("with verify: runs the check instead of the command; 0 counts the step as done", async () => {
    const h = new Harness(["vm1"]);
    h.addRollout(ID, twoSteps(", verify: { run: [db-migrated] }"));
    await h.engine.send(ID, { type: "start" });
    await launchedBeforeACrash(h);
    await h.queue.runUntilIdle({ until: done(h) });
    expect(h.state(ID).status).toBe("succeeded");
    expect(h.state(ID).targets.vm1!.steps[0]!.observation).toMatchObject({ verified: true });
    expect(h.ran()).toEqual(["vm1: db-migrated", "vm1: ebb-vm start"]);
  });

  it("with verify saying the effect is missing: stops and asks, never runs the command", async () => {
    const h = new Harness(["vm1"]);
    h.addRollout(ID, twoSteps(", verify: { run: [db-migrated] }"));
    h.execResult = (_t, argv) => (argv[0] === "db-migrated" ? { exitCode: 1 } : {});
    await h.engine.send(ID, { type: "start" });
    await launchedBeforeACrash(h);
    await h.queue.runUntilIdle({ until: done(h) });
    expect(h.state(ID).failure!.error).toMatchObject({ code: "outcome_unknown" });
    expect(h.state(ID).failure!.error.message).toMatch(
      /verify says the effect is not in place \(exit code 1\)/,
    );
    expect(h.ran()).toEqual(["vm1: db-migrated"]);
  });

  it("an idempotent command is simply run again", async () => {
    const h = new Harness(["vm1"]);
    h.addRollout(ID, twoSteps(", idempotent: true"));
    await h.engine.send(ID, { type: "start" });
    await h.queue.runUntilIdle({ until: done(h) });
    expect(h.state(ID).targets.vm1!.steps[0]!.launchedAt).toBeUndefined();
    expect(h.state(ID).status).toBe("succeeded");
  });
});
