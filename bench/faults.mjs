#!/usr/bin/env node
// The long fault campaign of issue #13 §3: three workers and two API processes roll `lab`, `lab-haproxy`
// and `lab-pods` for ten minutes under keep-alive load while 100+ faults land (workers killed -9, one or
// all; Redis stopped 10 s, flushed; PostgreSQL restarted; the balancer's admin API unreachable 15 s; the
// targets' network stalled; a target's stop hanging; a target never healthy). The driver is the CI test's
// (test/support/fault-campaign.ts, through test/engine/fault-campaign.test.ts with FAULT_CAMPAIGN=long),
// so the bench runs it under vitest and prints its JSON report on stdout.
//
//   npm run bench:faults                       a new seed (printed; in the JSON as `replay`)
//   FAULT_SEED=1234 npm run bench:faults       replays that run's faults
//   FAULT_DURATION_MS=300000 FAULT_SCALE=0.5   shorter; outages at half length
// Needs PostgreSQL's server binaries (a cluster of its own is started; never the shared one), redis-server
// and haproxy. Exit code 1 when an invariant broke.
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const dir = await mkdtemp(path.join(tmpdir(), "ebb-bench-faults-"));
const reportFile = path.join(dir, "report.json");
const seed = process.env.FAULT_SEED ?? String(Math.floor(Math.random() * 2 ** 31));
process.stderr.write(`fault campaign: FAULT_SEED=${seed}\n`);
const child = spawn(
  process.execPath,
  [path.join(root, "node_modules/vitest/vitest.mjs"), "run", "test/engine/fault-campaign.test.ts"],
  {
    cwd: root,
    env: {
      ...process.env,
      EBB_CAMPAIGNS: "1",
      FAULT_CAMPAIGN: "long",
      FAULT_SEED: seed,
      FAULT_REPORT: reportFile,
    },
    // vitest's own output goes to stderr: stdout carries the JSON only.
    stdio: ["ignore", process.stderr, process.stderr],
  },
);
const code = await new Promise((resolve) => child.on("exit", (c) => resolve(c ?? 1)));
let report;
try {
  report = JSON.parse(await readFile(reportFile, "utf8"));
} catch {
  process.stderr.write(`the campaign wrote no report (vitest exited ${code})\n`);
  process.exitCode = 1;
}
if (report) {
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  process.exitCode = code === 0 && report.allHeld ? 0 : 1;
}
await rm(dir, { recursive: true, force: true });
