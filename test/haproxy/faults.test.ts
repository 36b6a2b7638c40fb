import { rename } from "node:fs/promises";
import type { RolloutView } from "@ebb/contracts";
import { haproxyAvailable, type LoadGenerator, registerHaproxyWorld, vmStatus } from "@ebb/lab";
import { waitFor } from "@ebb/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { testDatabases } from "../../apps/api/test-support/database.js";
import { givenEbbWith, type RunningEbb, TEST_ADMIN_TOKEN } from "../support/ebb.js";
import { givenHaproxy, type HaproxyLab, untilAllUpIn } from "../support/haproxy.js";
import {
  createRollout,
  describeTargets,
  getRollout,
  startLoadThrough,
  stepRuns,
  TERMINAL,
  untilRollout,
  untilTerminal,
} from "../support/rollouts.js";
import { givenSplitEbb, type SplitEbb } from "../support/split.js";
import { totalErrors } from "../support/world.js";

// issue #11 §5: what can go wrong around a drain through a real HAProxy, under keep-alive load: the worker
// killed with -9 mid-drain, and HAProxy's runtime socket going away mid-rollout. Either way the rollout
// must finish with every VM on the new version and no client request lost.

const postgres = testDatabases().find((v) => v.kind === "postgres");

let world: HaproxyLab | undefined;
let ebb: RunningEbb | undefined;
let split: SplitEbb | undefined;
let load: LoadGenerator | undefined;

afterEach(async () => {
  await load?.stop();
  await ebb?.cleanup();
  await split?.cleanup();
  await world?.cleanup();
  [load, ebb, split, world] = [undefined, undefined, undefined, undefined];
});

/**
 * Where each kill lands: a wait of the drain, a command, and the wait for HAProxy to report the restarted
 * server UP (rise checks: it lasts). Not the wait on scur after the stop: with `holdFor: 0s` it often passes
 * at its first check, and the rollout of the last VM ended before the test could see it running.
 */
const KILL_AT = [
  { target: "vm1", step: "await-no-new-sessions" },
  { target: "vm2", step: "stop" },
  { target: "vm3", step: "await-bound" },
] as const;

function at(view: RolloutView, target: string, step: string): boolean {
  const t = view.targets.find((x) => x.name === target);
  return t !== undefined && t.step === step && (t.status === "running" || t.status === "waiting");
}

describe.skipIf(!haproxyAvailable())("a drain through HAProxy survives its faults", () => {
  it.skipIf(!postgres)(
    "kill -9 of the worker mid-drain, three times: a new worker resumes, the rollout completes, no request lost",
    async () => {
      // Given lab-haproxy (TCP mode, 3 VMs) under keep-alive load, its worker a process of its own
      world = await givenHaproxy(46, "tcp", { vms: 3 });
      const w = world;
      split = await givenSplitEbb({
        net: 46,
        postgres: postgres!,
        register: (db) => registerHaproxyWorld(db.prisma, w),
      });
      const s = split;
      s.startWorker();
      load = await startLoadThrough(w.vipUrl, w.vms.length);

      // When it rolls with haproxy-drain and the worker is killed at each kill point in turn
      const res = await fetch(`${s.api.apiUrl}/rollouts`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
        body: JSON.stringify({ fleet: "lab-haproxy", version: "2.0.0", runbook: "haproxy-drain" }),
      });
      expect(res.status, await res.clone().text()).toBe(201);
      const { id } = (await res.json()) as { id: string };
      for (const point of KILL_AT) {
        const view = await waitFor(
          async () => {
            const v = await s.getRollout(id);
            return at(v, point.target, point.step) || TERMINAL.includes(v.status as never) ? v : undefined;
          },
          { timeoutMs: 30_000, what: `${point.target} at ${point.step}` },
        );
        expect(view.status, `ended before ${point.target} reached ${point.step}`).toBe("running");
        await s.killWorker();
        s.startWorker();
      }

      // Then it completes: every VM on 2.0.0, UP in HAProxy, and no client saw an error
      const done = await waitFor(
        async () => {
          const v = await s.getRollout(id);
          return TERMINAL.includes(v.status as never) ? v : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 100, what: "the rollout to finish" },
      );
      expect(done.status, describeTargets(done)).toBe("succeeded");
      const report = await load.stop();
      load = undefined;
      expect(totalErrors(report.errors), JSON.stringify(report.errorSamples.slice(0, 5))).toBe(0);
      for (const vm of w.vms)
        expect(await vmStatus(vm.dir)).toMatchObject({ running: true, runningVersion: "2.0.0" });
      await untilAllUpIn(w);
    },
    60_000,
  );

  it("the runtime socket going away mid-drain: the step waits naming the socket, then goes on when it is back", async () => {
    // Given lab-haproxy (HTTP mode, 2 VMs) under keep-alive load
    world = await givenHaproxy(47, "http", { vms: 2 });
    const w = world;
    ebb = await givenEbbWith((prisma) => registerHaproxyWorld(prisma, w), 47);
    const e = ebb;
    load = await startLoadThrough(w.vipUrl, w.vms.length);
    const g = load;

    // When the socket file disappears while vm2 waits for HAProxy to send it no new session
    const id = await createRollout(e, { fleet: "lab-haproxy", version: "2.0.0", runbook: "haproxy-drain" });
    const waiting = await untilRollout(
      e,
      id,
      (v) => at(v, "vm2", "await-no-new-sessions") || TERMINAL.includes(v.status as never),
      "vm2 waiting for no new sessions",
    );
    expect(waiting.status).toBe("running");
    const away = `${w.socketPath}.away`;
    await rename(w.socketPath, away);
    let back = false;
    try {
      // Then the step waits and says which socket it cannot reach
      const unavailable = await waitFor(
        async () => {
          const runs = await stepRuns(e, id, "vm2");
          const step = runs.find((r) => r.stepId === "await-no-new-sessions");
          const seen = (step?.observations as { unavailable?: string }[] | undefined) ?? [];
          return seen.find((o) => o.unavailable !== undefined)?.unavailable;
        },
        { what: "an observation saying HAProxy cannot be reached" },
      );
      expect(unavailable).toContain(w.socketPath);
      expect(unavailable).toContain("the socket does not exist");
      // and stays there (its hold is 1 s) while the clients send another 2 s of requests through HAProxy
      const sent = g.snapshot().requests;
      let moved: RolloutView | undefined;
      await waitFor(
        async () => {
          const v = await getRollout(e, id);
          if (!at(v, "vm2", "await-no-new-sessions")) moved = v;
          return moved ?? g.snapshot().requests - sent >= 400;
        },
        { what: "400 more requests through the VIP" },
      );
      expect(moved && describeTargets(moved), "vm2 left its step without HAProxy's word").toBeUndefined();
      await rename(away, w.socketPath);
      back = true;
    } finally {
      if (!back) await rename(away, w.socketPath);
    }

    // and the rollout completes once the socket is back, with no request lost
    const done = await untilTerminal(e, id, 60_000);
    expect(done.status, describeTargets(done)).toBe("succeeded");
    const report = await g.stop();
    load = undefined;
    expect(totalErrors(report.errors), JSON.stringify(report.errorSamples.slice(0, 5))).toBe(0);
    for (const vm of w.vms)
      expect(await vmStatus(vm.dir)).toMatchObject({ running: true, runningVersion: "2.0.0" });
  }, 40_000);
});
