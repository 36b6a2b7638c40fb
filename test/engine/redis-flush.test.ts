import type { LoadGenerator } from "@ebb/lab";
import { vmStatus } from "@ebb/lab";
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { givenEbb, type RunningEbb } from "../support/ebb.js";
import {
  createRollout,
  describeTargets,
  errorsOf,
  type Lab,
  startLoad,
  stepRuns,
  targetOf,
  untilInService,
  untilRollout,
  untilTerminal,
} from "../support/rollouts.js";
import { givenLab } from "../support/world.js";

// Redis only schedules work; the database holds the rollout. Losing every job (FLUSHALL) while targets
// are mid-step must cost nothing but a reconciler pass: it re-creates the jobs from the database.

let lab: Lab | undefined;
let ebb: RunningEbb | undefined;
let load: LoadGenerator | undefined;
let redis: Redis | undefined;

afterEach(async () => {
  redis?.disconnect();
  await load?.stop();
  await ebb?.cleanup();
  await lab?.cleanup();
  [redis, load, ebb, lab] = [undefined, undefined, undefined, undefined];
});

describe("Redis flushed mid-rollout", () => {
  it("the reconciler re-creates the lost jobs and the rollout succeeds with zero client errors", async () => {
    // Given a rollout under keep-alive load, two targets at a time
    lab = await givenLab(29);
    ebb = await givenEbb(lab, 29);
    const e = ebb;
    redis = new Redis(e.app.redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true });
    await redis.connect();
    load = await startLoad(lab);
    const id = await createRollout(e, {
      fleet: "lab",
      version: "2.0.0",
      runbook: "l4-drain",
      maxUnavailable: 2,
    });

    // When Redis loses everything while the first batch waits for the device to unbind a target (its
    // re-checks are delayed jobs) ... Not "both at once": the device unbinds within ~0.6 s here, and on a
    // busy machine the two targets' first commands can finish further apart than that.
    await untilRollout(
      e,
      id,
      (v) => ["vm1", "vm2"].some((n) => targetOf(v, n).step === "await-unbound"),
      "vm1 or vm2 at await-unbound",
    );
    expect(await redis.dbsize()).toBeGreaterThan(0);
    // The live worker writes again at once (its blocking fetch, stalled checks): FLUSHALL's answer is the
    // proof, not an empty database a moment later.
    expect(await redis.flushall()).toBe("OK");
    // ... and again while the second batch runs commands (its jobs are active in a worker)
    await untilRollout(
      e,
      id,
      (v) => ["stop", "deploy", "start"].includes(targetOf(v, "vm3").step ?? ""),
      "vm3 running a command",
    );
    expect(await redis.flushall()).toBe("OK");

    // Then the rollout completes anyway
    const done = await untilTerminal(e, id);
    expect(done.status, describeTargets(done)).toBe("succeeded");
    // every target ran every step exactly once, in order: nothing skipped, nothing retried
    for (const name of ["vm1", "vm2", "vm3", "vm4"]) {
      const steps = await stepRuns(e, id, name);
      expect(steps.map((s) => [s.stepIndex, s.attempt, s.status])).toEqual(
        steps.map((_, i) => [i, 1, "succeeded"]),
      );
      expect(steps).toHaveLength(9);
    }
    for (const v of lab.vms) {
      expect(await vmStatus(v.dir)).toMatchObject({ running: true, runningVersion: "2.0.0" });
      await untilInService(lab, v.name);
    }
    // and no client noticed
    const errors = errorsOf(await load.stop());
    load = undefined;
    expect(errors.count, errors.samples).toBe(0);
  });
});
