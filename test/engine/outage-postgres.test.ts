import { afterEach, describe, expect, it } from "vitest";
import { givenEbbWith } from "../support/ebb.js";
import {
  expectCleanFinish,
  OUTAGE_MS,
  type OutageWorld,
  postgresBinDir,
  registerTwoFleets,
  rolloutsThroughAnOutage,
  startOwnPostgres,
} from "../support/outage.js";
import { startLoad } from "../support/rollouts.js";
import { givenLab } from "../support/world.js";

// issue #16 §3: PostgreSQL, Ebb's source of truth, really gone for 30 s (a private cluster of the test's
// own, `pg_ctl stop -m immediate`, started again on the same port; never the machine's shared one) while one
// rollout waits and another has just begun a step. Jobs stay in Redis but every one that runs meanwhile
// fails on the database; once it is back the reconciler re-creates them, and the steps whose deadlines
// passed while Ebb could not work get their full time again instead of failing the targets by the clock.

const NET = 37;
const installed = postgresBinDir() !== undefined;
if (!installed) {
  if (process.env.CI)
    throw new Error("CI needs PostgreSQL's server binaries for the outage test (apt install postgresql)");
  console.warn("PostgreSQL's server binaries are not installed: skipping the PostgreSQL outage test");
}
let world: Partial<OutageWorld> = {};
let postgres: Awaited<ReturnType<typeof startOwnPostgres>> | undefined;

afterEach(async () => {
  // Back first: a test that failed mid-outage leaves it down, and Ebb's shutdown needs it.
  await postgres?.start();
  await world.load?.stop();
  await world.ebb?.cleanup();
  await world.lab?.cleanup();
  await postgres?.cleanup();
  [world, postgres] = [{}, undefined];
});

describe.skipIf(!installed)("PostgreSQL stopped for 30 s mid-rollout", () => {
  it("every rollout completes once it is back, no step failed by the outage's clock, no client error", async () => {
    // Given two rollouts under keep-alive load, on a PostgreSQL cluster of the test's own
    const pg = await startOwnPostgres();
    postgres = pg;
    const lab = await givenLab(NET);
    world.lab = lab;
    const ebb = await givenEbbWith(
      (prisma) => registerTwoFleets(prisma, lab),
      NET,
      {},
      { database: () => pg.database() },
    );
    world.ebb = ebb;
    const load = await startLoad(lab);
    world.load = load;

    // When PostgreSQL is killed while A's vm1 waits at await-unbound and just after B's gate was approved
    // (B's deploy has begun), and comes back 30 s later
    const run = await rolloutsThroughAnOutage({ lab, ebb, load }, pg, { approveDuringOutage: false });
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
