import { afterEach, describe, expect, it } from "vitest";
import { givenEbbWith } from "../support/ebb.js";
import {
  expectCleanFinish,
  OUTAGE_MS,
  type Outageable,
  type OutageWorld,
  registerTwoFleets,
  rolloutsThroughAnOutage,
  startOwnRedis,
} from "../support/outage.js";
import { startLoad } from "../support/rollouts.js";
import { givenLab } from "../support/world.js";

// issue #16 §3: Redis really gone for 30 s (the process killed, restarted empty on the same port) while one
// rollout waits and another is between steps. Every job is lost; the reconciler re-creates them from the
// database, and the steps whose deadlines passed while Ebb could not work get their full time again
// instead of failing the targets by the clock. The command deadlines (8 s) are shorter than the outage.

const NET = 36;
let world: Partial<OutageWorld> = {};
let redis: Outageable | undefined;

afterEach(async () => {
  // Back first: a test that failed mid-outage leaves it down, and Ebb's shutdown needs it.
  await redis?.start();
  await world.load?.stop();
  await world.ebb?.cleanup();
  await world.lab?.cleanup();
  await redis?.cleanup();
  [world, redis] = [{}, undefined];
});

describe("Redis stopped for 30 s mid-rollout", () => {
  it("every rollout completes once it is back, no step failed by the outage's clock, no client error", async () => {
    // Given two rollouts under keep-alive load, on a Redis of the test's own
    redis = await startOwnRedis();
    const lab = await givenLab(NET);
    world.lab = lab;
    const ebb = await givenEbbWith((prisma) => registerTwoFleets(prisma, lab), NET, { REDIS_URL: redis.url });
    world.ebb = ebb;
    const load = await startLoad(lab);
    world.load = load;

    // When Redis is killed while A's vm1 waits at await-unbound, B's gate is approved during the outage
    // (the database is up: B's deploy begins, its job cannot be written), and Redis comes back empty
    const run = await rolloutsThroughAnOutage({ lab, ebb, load }, redis, { approveDuringOutage: true });
    expect(run.restartedAt - run.stoppedAt).toBeGreaterThanOrEqual(OUTAGE_MS);
    // (and Ebb waited for it without spinning: a hot loop of reconnects or retries would take a core)
    expect(run.cpuShare).toBeLessThan(0.5);
    // (every deadline in force when it began had passed when it ended: the clock alone would fail them)
    expect(run.deadlines.length).toBeGreaterThanOrEqual(2);
    for (const d of run.deadlines) expect(d).toBeLessThan(run.restartedAt);

    // Then both rollouts succeed with every step done once, and no client saw an error
    await expectCleanFinish({ lab, ebb, load }, [run.a, run.b]);
    world.load = undefined;
  }, 120_000);
});
