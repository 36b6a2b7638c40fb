#!/usr/bin/env node
// What real HAProxy (Debian's 2.6) does to keep-alive clients of a server it reports DOWN, or that is set
// to DRAIN or MAINT, in TCP mode and in HTTP mode; and what the server's FIN (a graceful stop) does on each
// side. For each mode x scenario, a fresh HAProxy in front of 4 lab VMs under keep-alive load:
//   down   the health check answers 404 until HAProxy marks vm1 DOWN (fall 2)
//   drain  set server lab/vm1 state drain
//   maint  set server lab/vm1 state maint
//   none   nothing (the naive stop)
// then 1 s of observation, then a graceful stop of vm1 (FIN). JSON on stdout; the numbers are in
// docs/balancers/haproxy.md.
//
//   npm run build && node bench/haproxy-modes.mjs          (needs haproxy on PATH)
//   BENCH_MODES=tcp BENCH_SCENARIOS=drain node bench/haproxy-modes.mjs
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { HaproxyBalancer } from "@ebb/drivers";
import { LoadGenerator, setHealthCheck, startHaproxyWorld, stopVm } from "@ebb/lab";
import { freePort, waitFor } from "@ebb/testkit";

const modes = (process.env.BENCH_MODES ?? "tcp,http").split(",");
const scenarios = (process.env.BENCH_SCENARIOS ?? "down,drain,maint,none").split(",");
const clients = Number(process.env.BENCH_CLIENTS ?? 8);
const rate = Number(process.env.BENCH_RATE ?? 400);
const log = (line) => process.stderr.write(`${line}\n`);
const net = "127.0.32";

const dir = await mkdtemp(path.join(tmpdir(), "ebb-bench-haproxy-"));
const results = [];
try {
  for (const mode of modes) {
    for (const scenario of scenarios) {
      log(`${mode} ${scenario}...`);
      results.push(await run(mode, scenario));
    }
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
process.stdout.write(
  `${JSON.stringify({ haproxy: "2.6", clients, rate, checkInterMs: 200, fall: 2, rise: 1, results }, null, 2)}\n`,
);

async function run(mode, scenario) {
  const world = await startHaproxyWorld({
    labDir: path.join(dir, `${mode}-${scenario}`),
    vmFirstHost: `${net}.31`,
    vmPort: await freePort(`${net}.31`),
    vip: { host: `${net}.1`, port: await freePort(`${net}.1`) },
    mode,
    timeScale: 0.02,
  });
  const balancer = new HaproxyBalancer({
    config: { socket: world.socketPath, backend: world.backend, pollIntervalMs: 20 },
  });
  const vm1 = world.vms[0];
  const target = { name: "vm1", host: vm1.host, port: vm1.port, executor: "local", labels: {} };
  const load = new LoadGenerator({
    target: { host: `${net}.1`, port: Number(new URL(world.vipUrl).port) },
    clients,
    rate,
  });
  try {
    await waitFor(
      async () =>
        (await balancer.snapshot(world.vms.map((v) => ({ ...target, name: v.name })))).every(
          (s) => s.state === "up",
        ),
      {
        what: "every VM UP",
      },
    );
    load.start();
    await waitFor(() => Object.keys(load.snapshot().byServer).length === 4, { what: "all 4 VMs answering" });
    await waitFor(async () => (await balancer.observe(target)).sessions > 0, { what: "sessions on vm1" });
    const before = await balancer.observe(target);

    // The state change, and when HAProxy reports it.
    const t0 = Date.now();
    if (scenario === "down") await setHealthCheck(vm1.dir, false);
    if (scenario === "drain") await balancer.setState(target, "drain");
    if (scenario === "maint") await balancer.setState(target, "maint");
    if (scenario !== "none")
      await waitFor(async () => !(await balancer.observe(target)).bound, { what: "vm1 out", intervalMs: 5 });
    const outAfterMs = Date.now() - t0;
    const atOut = load.snapshot();
    const servedAtOut = atOut.byServer.vm1 ?? 0;
    const sessionsAtOut = (await balancer.observe(target)).sessions;

    // One second with vm1 out but running: do its keep-alive clients still reach it?
    await waitFor(() => Date.now() - t0 - outAfterMs >= 1000, { what: "1 s", intervalMs: 50 });
    const after1s = load.snapshot();
    const servedWhileOut = (after1s.byServer.vm1 ?? 0) - servedAtOut;
    const sessionsAfter1s = (await balancer.observe(target)).sessions;
    const errorsBeforeStop = sum(after1s.errors);

    // The graceful stop: the VM answers in-flight requests with Connection: close and FINs idle ones.
    const t1 = Date.now();
    const connsBeforeStop = after1s.newConnections;
    await stopVm(vm1.dir, { timeoutMs: 10_000 });
    const stoppedAfterMs = Date.now() - t1;
    await waitFor(async () => (await balancer.observe(target)).sessions === 0, {
      what: "scur 0",
      intervalMs: 5,
      timeoutMs: 20_000,
    });
    const scurZeroAfterMs = Date.now() - t1;
    await waitFor(() => Date.now() - t1 >= 1500, { what: "1.5 s", intervalMs: 50 });
    const end = await load.stop();
    return {
      mode,
      scenario,
      sessionsOnVm1Before: before.sessions,
      outAfterMs: scenario === "none" ? null : outAfterMs,
      sessionsOnVm1AtOut: sessionsAtOut,
      requestsToVm1InTheSecondAfterOut: servedWhileOut,
      sessionsOnVm1OneSecondAfterOut: sessionsAfter1s,
      stopTookMs: stoppedAfterMs,
      scurZeroAfterStopMs: scurZeroAfterMs,
      clientReconnectsAfterStop: end.newConnections - connsBeforeStop,
      failedRequestsBeforeStop: errorsBeforeStop,
      failedRequestsFromStop: sum(end.errors) - errorsBeforeStop,
      errors: Object.fromEntries(Object.entries(end.errors).filter(([, n]) => n > 0)),
      errorSamples: end.errorSamples.slice(0, 3).map((e) => `${e.kind}: ${e.message}`),
      requests: end.requests,
    };
  } finally {
    await load.stop();
    await world.stop();
  }
}

function sum(errors) {
  return Object.values(errors).reduce((a, b) => a + b, 0);
}
