import { writeFile } from "node:fs/promises";
import { expect, it } from "vitest";
import { testDatabases } from "../../apps/api/test-support/database.js";
import { runFaultCampaign } from "../support/fault-campaign.js";
import { postgresBinDir } from "../support/outage.js";

// issue #13 §3: the fault campaign, short. Three workers and two API processes roll `lab`, `lab-haproxy`
// and `lab-pods` while workers are killed, Redis stops and is flushed, PostgreSQL restarts, the balancer's
// admin API and the targets' network go away, and targets hang on stop or never become healthy: 45 s of
// faults at a fifth of their length here. Every invariant must hold. `bench/faults.mjs` runs the same
// driver for ten minutes at full length (FAULT_CAMPAIGN=long); FAULT_SEED replays a run; FAULT_REPORT
// names a file for the JSON.

const long = process.env.FAULT_CAMPAIGN === "long";
const seed = process.env.FAULT_SEED ? Number(process.env.FAULT_SEED) : Math.floor(Math.random() * 2 ** 31);
const installed = postgresBinDir() !== undefined && testDatabases().some((v) => v.kind === "postgres");
if (!installed && process.env.CI) throw new Error("CI needs PostgreSQL for the fault campaign");

it.skipIf(!installed)(
  `a fault campaign (seed ${seed}) holds every invariant`,
  async () => {
    console.log(`fault campaign: FAULT_SEED=${seed}`);
    const report = await runFaultCampaign({
      seed,
      durationMs: Number(process.env.FAULT_DURATION_MS ?? (long ? 600_000 : 45_000)),
      faultScale: Number(process.env.FAULT_SCALE ?? (long ? 1 : 0.2)),
      meanGapMs: Number(process.env.FAULT_GAP_MS ?? (long ? 4_000 : 3_000)),
      rolloutBoundMs: long ? 180_000 : 90_000,
      net: 61,
      log: process.env.FAULT_VERBOSE ? (line) => console.log(line) : undefined,
    });
    const json = JSON.stringify(report, null, 2);
    if (process.env.FAULT_REPORT) await writeFile(process.env.FAULT_REPORT, json);
    else console.log(json);
    expect(report.allHeld, json).toBe(true);
    expect(report.faults.total, json).toBeGreaterThanOrEqual(long ? 100 : 8);
  },
  long ? 1_200_000 : 300_000,
);
