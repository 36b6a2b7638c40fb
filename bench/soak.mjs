#!/usr/bin/env node
// Issue 17: N consecutive rollouts of each lab fleet (lab, lab-pods, lab-haproxy, and lab-deploy when Ebb
// rolls it), back to back and with seeded random gaps, under strict keep-alive load (no retries): 16
// connections at 10 ms gaps, 64 back to back, one idle past the servers' keep-alive timeout. Every client
// error is counted by kind and time and tied to the step that was running. JSON on stdout.
//
//   npm run bench:soak                                  # 50 per fleet (the long run)
//   SOAK_N=3 SOAK_FLEETS=lab-pods npm run bench:soak    # a quick look
//   SOAK_SEED=1234 ...                                  # replay the gaps of a run
// Knobs: see apps/lab/src/soak/env.ts (SOAK_N, SOAK_FLEETS, SOAK_TIME_SCALE, SOAK_PROPAGATION_MS,
// SOAK_SEED, SOAK_GAP_MAX_MS, SOAK_BACK_TO_BACK, SOAK_PROFILES, SOAK_PARALLEL).
import "reflect-metadata";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { bootstrap, DATABASE, featureModules, parseConfig } from "@ebb/api";
import { freeLoopbackPort, parseSoakEnv, runSoak } from "@ebb/lab";

const env = (() => {
  try {
    return parseSoakEnv(process.env);
  } catch (err) {
    console.error(err.message);
    process.exit(2);
  }
})();
const log = (line) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
log(`soak: seed ${env.seed}, ${env.rollouts} rollouts of ${env.fleets.join(", ")}`);

const net = 94;
const dir = await mkdtemp(path.join(tmpdir(), "ebb-bench-soak-"));
const ADMIN_TOKEN = "bench-soak-admin-token";
const host = `127.0.${net}.5`;
const config = parseConfig(
  {
    EBB_API_HOST: host,
    EBB_API_PORT: String(await freeLoopbackPort(host)),
    EBB_REDIS_PORT: String(await freeLoopbackPort("127.0.0.1")),
    EBB_DATA_DIR: path.join(dir, "ebb"),
    EBB_LOG_LEVEL: "warn",
    EBB_ADMIN_TOKEN: ADMIN_TOKEN,
  },
  { cwd: dir },
);
const ebb = await bootstrap(config, { modules: featureModules(config, process.env), logger: false });
let code = 0;
try {
  const report = await runSoak({
    ebb: { apiUrl: ebb.apiUrl, token: ADMIN_TOKEN, prisma: ebb.app.get(DATABASE).prisma },
    dir: path.join(dir, "lab"),
    net,
    log,
    ...env,
  });
  console.log(JSON.stringify({ benchmark: "soak", at: new Date().toISOString(), ...report }, null, 2));
  if (report.totals.failedRequests > 0) code = 1;
} finally {
  await ebb.close();
  await rm(dir, { recursive: true, force: true });
}
process.exit(code);
