import { mkdir } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { Worker } from "node:worker_threads";
import type { Database } from "@ebb/api";
import { registerHaproxyWorld, registerLabDeploy, registerLabPods, registerWorld } from "../fleet.js";
import { haproxyAvailable, startHaproxyWorld } from "../haproxy.js";
import { startLabCluster } from "../k8s/lab-cluster.js";
import { ERROR_KINDS, type ErrorKind, type LoadOptions } from "../loadgen/types.js";
import { labVmTimings, startWorld } from "../world.js";
import {
  type AttributedError,
  attributeErrors,
  type ClientError,
  countBy,
  type RolloutSpan,
} from "./attribute.js";
import { gapSchedule } from "./schedule.js";

/** The lab fleets a soak knows how to build, with the runbook each is rolled with. */
export const SOAK_FLEETS = {
  lab: "l4-drain",
  "lab-pods": "k8s-pod-drain",
  "lab-haproxy": "haproxy-drain",
  "lab-deploy": "k8s-pod-drain",
} as const;
export type SoakFleetName = keyof typeof SOAK_FLEETS;

/**
 * Strict keep-alive load profiles (no retries, one persistent connection per client):
 * - `steady`: 16 connections, 10 ms between requests on each (1,600 req/s): issue 17's client;
 * - `burst`: 64 connections, back to back;
 * - `idle`: one connection idle for 1.5 x the servers' keep-alive timeout between requests, so the server
 *   closes it while idle every time and the next request must find that out cleanly.
 */
export const SOAK_PROFILES = ["steady", "burst", "idle"] as const;
export type SoakProfileName = (typeof SOAK_PROFILES)[number];

export interface SoakEbb {
  apiUrl: string;
  token: string;
  prisma: Database["prisma"];
}

export interface SoakOptions {
  ebb: SoakEbb;
  /** Where the lab worlds live (VMs, pods, HAProxy's files). */
  dir: string;
  fleets: readonly string[];
  /** Consecutive rollouts per fleet. */
  rollouts: number;
  /** Per fleet name, a count that replaces `rollouts` for that fleet. */
  rolloutsByFleet?: Readonly<Record<string, number>>;
  timeScale: number;
  /** The service proxies' lag behind the EndpointSlices (real ms). */
  propagationDelayMs: number;
  seed: number;
  /** Gaps between rollouts: `backToBackShare` of them 0, the others uniform in [0, maxGapMs]. */
  maxGapMs: number;
  backToBackShare: number;
  profiles: readonly SoakProfileName[];
  /** Loopback addresses 127.0.<net>.x are the soak's. */
  net: number;
  /** Fleets run at the same time (each its own world, load and rollouts); default all at once. */
  parallel?: boolean;
  /** No rollout starts after this time (epoch ms): a long run that must end by a deadline says how far it got. */
  untilMs?: number;
  /** Ends a fleet's run on its first failed request (CI: stop early, report what happened). */
  stopOnError?: boolean;
  log?: (line: string) => void;
}

export interface SoakRolloutResult {
  index: number;
  id: string;
  gapBeforeMs: number;
  status: string;
  durationMs: number;
  /** What the drain proof recorded (the balancer's view), next to what the clients saw. */
  drainProofClientErrors: number;
  clientErrors: number;
  /** Targets of the rollout that succeeded having run its steps (not skipped as already out). */
  targetsRolled: number;
  failure: { target: string; step: string; code: string; message: string } | null;
}

export interface SoakFleetResult {
  fleet: string;
  runbook: string;
  /** Set when the fleet was left out: not built in this lab, or Ebb refuses to roll it. */
  skipped?: string;
  rollouts: number;
  statuses: Record<string, number>;
  durationMs: number;
  meanRolloutMs: number;
  requests: Record<string, number>;
  errors: Record<string, Record<ErrorKind, number>>;
  failedRequests: number;
  /** Client errors by the step running when they were seen (`target/step`, or `between rollouts`). */
  errorsByStep: Record<string, number>;
  /** Rollouts that reported `succeeded` although a client saw an error during them. */
  quietSucceededWithErrors: number;
  /** Rollouts that reported `succeeded` without rolling every server (a Deployment's stale pod names did). */
  hollowSucceeded: number;
  /** The first 200 errors, each tied to its rollout, offset and steps. */
  errorEvents: AttributedError[];
  perRollout: SoakRolloutResult[];
}

export interface SoakReport {
  seed: number;
  /**
   * Pauses of this process's event loop (where Ebb, the L4 device and the service proxies run) longer
   * than 100 ms: a proxy that stops reading for that long holds requests while the servers' timers run on.
   */
  eventLoopStalls: { count: number; maxMs: number; first: { atMs: number; ms: number }[] };
  setup: {
    fleets: string[];
    rolloutsPerFleet: number;
    until?: string;
    timeScale: number;
    propagationDelayMs: number;
    maxGapMs: number;
    backToBackShare: number;
    profiles: Record<string, { clients: number; rate: number; idleBetweenRequestsMs?: number }>;
  };
  fleets: SoakFleetResult[];
  totals: {
    rollouts: number;
    requests: number;
    failedRequests: number;
    quietSucceededWithErrors: number;
    hollowSucceeded: number;
  };
  durationMs: number;
}

/** A free port on `host` (the lab's addresses are the soak's own, ports are whatever is free). */
export function freeLoopbackPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen({ host, port: 0 }, () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

interface FleetLab {
  name: string;
  runbook: string;
  entry: { host: string; port: number };
  /** Names the load's responses carry (`host` of the lab VM's JSON): all answering = ready for load. */
  servers: number;
  keepAliveTimeoutMs: number;
  stop(): Promise<void>;
}

/** Builds one fleet's lab world and registers it with Ebb; null when this machine cannot (no haproxy). */
async function buildFleet(
  name: string,
  o: SoakOptions,
  log: (line: string) => void,
): Promise<FleetLab | string> {
  const n = o.net;
  const dir = path.join(o.dir, name);
  await mkdir(dir, { recursive: true });
  const timings = labVmTimings(o.timeScale);
  switch (name) {
    case "lab": {
      const world = await startWorld({
        labDir: dir,
        vms: 4,
        vmFirstHost: `127.0.${n}.11`,
        vmPort: await freeLoopbackPort(`127.0.${n}.11`),
        timeScale: o.timeScale,
        vip: { host: `127.0.${n}.1`, port: await freeLoopbackPort(`127.0.${n}.1`) },
        admin: { host: `127.0.${n}.1`, port: await freeLoopbackPort(`127.0.${n}.1`) },
      });
      await waitUntil(() => world.device.servers().every((s) => s.bound), 60_000, "lab VMs bound");
      await registerWorld(o.ebb.prisma, world, { name: "lab" });
      const vip = new URL(world.device.vipUrl);
      return {
        name,
        runbook: SOAK_FLEETS.lab,
        entry: { host: vip.hostname, port: Number(vip.port) },
        servers: world.vms.length,
        keepAliveTimeoutMs: timings.keepAliveTimeoutMs,
        stop: () => world.stop(),
      };
    }
    case "lab-haproxy": {
      if (!haproxyAvailable()) return "haproxy is not installed";
      const world = await startHaproxyWorld({
        labDir: dir,
        vmFirstHost: `127.0.${n}.31`,
        vmPort: await freeLoopbackPort(`127.0.${n}.31`),
        vip: { host: `127.0.${n}.2`, port: await freeLoopbackPort(`127.0.${n}.2`) },
        mode: "tcp",
        timeScale: o.timeScale,
      });
      await registerHaproxyWorld(o.ebb.prisma, world, { name: "lab-haproxy" });
      const vip = new URL(world.vipUrl);
      return {
        name,
        runbook: SOAK_FLEETS["lab-haproxy"],
        entry: { host: vip.hostname, port: Number(vip.port) },
        servers: world.vms.length,
        keepAliveTimeoutMs: timings.keepAliveTimeoutMs,
        stop: () => world.stop(),
      };
    }
    case "lab-pods":
    case "lab-deploy": {
      const deploy = name === "lab-deploy";
      const cluster = await startLabCluster({
        labDir: dir,
        api: { host: `127.0.${n}.${deploy ? 4 : 3}`, port: 0 },
        proxy: { host: `127.0.${n}.${deploy ? 4 : 3}`, port: 0 },
        podFirstHost: `127.0.${n}.${deploy ? 61 : 21}`,
        timeScale: o.timeScale,
        propagationDelayMs: o.propagationDelayMs,
        ...(deploy
          ? {
              deployment: {
                proxy: { host: `127.0.${n}.4`, port: 0 },
                podFirstHost: `127.0.${n}.41`,
              },
            }
          : {}),
        log: (line) => log(`[${name}] ${line}`),
      });
      const stop = () => cluster.stop();
      if (deploy) {
        await registerLabDeploy(o.ebb.prisma, cluster);
        const url = new URL(cluster.deployment!.proxyUrl);
        return {
          name,
          runbook: SOAK_FLEETS["lab-deploy"],
          entry: { host: url.hostname, port: Number(url.port) },
          servers: cluster.deployment!.replicas,
          keepAliveTimeoutMs: timings.keepAliveTimeoutMs,
          stop,
        };
      }
      await registerLabPods(o.ebb.prisma, cluster, { name: "lab-pods" });
      const url = new URL(cluster.proxyUrl);
      return {
        name,
        runbook: SOAK_FLEETS["lab-pods"],
        entry: { host: url.hostname, port: Number(url.port) },
        servers: cluster.pods.length,
        keepAliveTimeoutMs: timings.keepAliveTimeoutMs,
        stop,
      };
    }
    default:
      throw new Error(
        `soak: unknown fleet ${JSON.stringify(name)} (known: ${Object.keys(SOAK_FLEETS).join(", ")})`,
      );
  }
}

async function waitUntil(
  done: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`soak: ${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function profileLoad(
  profile: SoakProfileName,
  keepAliveTimeoutMs: number,
): { clients: number; rate: number; idleBetweenRequestsMs?: number } {
  switch (profile) {
    case "steady":
      return { clients: 16, rate: 1_600 };
    case "burst":
      return { clients: 64, rate: 0 };
    case "idle": {
      const idle = Math.round(keepAliveTimeoutMs * 1.5);
      return { clients: 1, rate: 1_000 / idle, idleBetweenRequestsMs: idle };
    }
  }
}

interface LoadTotals {
  requests: number;
  ok: number;
  errors: Record<string, number>;
}

/** Where the compiled worker is: next to this file in dist, or dist's twin of src when tests run the sources. */
function workerFile(): string {
  const here = import.meta.dirname;
  const dist = here.endsWith(`${path.sep}src${path.sep}soak`) ? path.join(here, "../../dist/soak") : here;
  return path.join(dist, "load-worker.js");
}

/** The profiles' load generators on a worker thread (see load-worker.ts). */
function startLoad(
  profiles: { profile: string; options: LoadOptions }[],
  onError: (e: ClientError) => void,
): { servers: Record<string, string[]>; stop(): Promise<Record<string, LoadTotals>> } {
  const worker = new Worker(workerFile(), { workerData: { profiles } });
  const state = { servers: {} as Record<string, string[]> };
  let done: ((r: Record<string, LoadTotals>) => void) | undefined;
  let crashed: Error | undefined;
  let failed: ((err: Error) => void) | undefined = (err) => {
    crashed = err;
  };
  worker.on("message", (m: { type: string } & Record<string, unknown>) => {
    if (m.type === "error") onError(m as unknown as ClientError);
    else if (m.type === "servers") state.servers = m.byProfile as Record<string, string[]>;
    else if (m.type === "done") done?.(m.reports as Record<string, LoadTotals>);
  });
  worker.on("error", (err) => failed?.(err));
  return {
    get servers() {
      return state.servers;
    },
    stop: () =>
      new Promise<Record<string, LoadTotals>>((resolve, reject) => {
        if (crashed) {
          reject(new Error(`soak: the load's worker thread died: ${crashed.message}`));
          return;
        }
        done = (r) => {
          void worker.terminate();
          resolve(r);
        };
        failed = reject;
        worker.postMessage({ type: "stop" });
      }),
  };
}

interface RolloutDetailLike {
  id: string;
  status: string;
  startedAt: string | null;
  finishedAt: string | null;
  failure: { target: string; step: string; code: string; message: string } | null;
  drainProof: { drains: number; clientErrors: number };
  targets: {
    name: string;
    status: string;
    steps: {
      stepId?: string;
      id?: string;
      status?: string;
      startedAt: string | null;
      finishedAt: string | null;
    }[];
  }[];
}

/** A rollout of 4 lab targets takes seconds to a minute; one still running after this is stuck. */
const ROLLOUT_DEADLINE_MS = 600_000;

const TERMINAL = new Set(["succeeded", "failed", "aborted", "rolled_back"]);

async function api(
  o: SoakOptions,
  method: string,
  route: string,
  body?: unknown,
): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${o.ebb.apiUrl}${route}`, {
    method,
    headers: {
      authorization: `Bearer ${o.ebb.token}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** Runs one fleet's consecutive rollouts under the profiles' load. */
async function soakFleet(
  lab: FleetLab,
  o: SoakOptions,
  seed: number,
  log: (line: string) => void,
): Promise<SoakFleetResult> {
  const errors: ClientError[] = [];
  let stop = false;
  const load = startLoad(
    o.profiles.map((profile) => {
      const p = profileLoad(profile, lab.keepAliveTimeoutMs);
      return { profile, options: { target: lab.entry, clients: p.clients, rate: p.rate, timeoutMs: 2_000 } };
    }),
    (e) => {
      errors.push(e);
      if (o.stopOnError) stop = true;
    },
  );
  const started = Date.now();
  const spans: RolloutSpan[] = [];
  const perRollout: SoakRolloutResult[] = [];
  let skipped: string | undefined;
  let reports: Record<string, LoadTotals> = {};
  const rollouts = o.rolloutsByFleet?.[lab.name] ?? o.rollouts;
  const gaps = gapSchedule(rollouts, { seed, maxGapMs: o.maxGapMs, backToBackShare: o.backToBackShare });
  try {
    const warm = o.profiles.find((p) => p !== "idle");
    if (warm)
      await waitUntil(
        () => (load.servers[warm]?.length ?? 0) >= lab.servers,
        60_000,
        `${lab.name}: all ${lab.servers} servers answering the load`,
      );
    for (let i = 0; i < rollouts && !stop; i++) {
      const gap = gaps[i] ?? 0;
      if (gap > 0) await new Promise((r) => setTimeout(r, gap));
      if (o.untilMs !== undefined && Date.now() > o.untilMs) {
        log(`${lab.name}: SOAK_UNTIL passed after ${i} rollouts`);
        break;
      }
      const version = `${2 + Math.floor(i / 100)}.${i % 100}.${seed % 1000}`;
      const t0 = Date.now();
      const created = await api(o, "POST", "/rollouts", { fleet: lab.name, version, runbook: lab.runbook });
      if (created.status !== 201) {
        const e = (created.body as { error?: { code?: string; message?: string } } | undefined)?.error;
        const why = `${created.status} ${e?.code ?? ""}: ${e?.message ?? JSON.stringify(created.body)}`;
        if (i === 0) {
          skipped = `Ebb refuses to roll it: ${why}`;
          break;
        }
        throw new Error(`${lab.name}: rollout ${i} refused: ${why}`);
      }
      const id = (created.body as { id: string }).id;
      let detail: RolloutDetailLike;
      const deadline = t0 + ROLLOUT_DEADLINE_MS;
      for (;;) {
        detail = (await api(o, "GET", `/rollouts/${id}`)).body as RolloutDetailLike;
        if (TERMINAL.has(detail.status)) break;
        if (Date.now() > deadline)
          throw new Error(
            `${lab.name}: rollout ${i} (${id}) still ${detail.status} after ${ROLLOUT_DEADLINE_MS} ms`,
          );
        await new Promise((r) => setTimeout(r, 100));
      }
      const t1 = Date.now();
      const span: RolloutSpan = {
        index: i,
        id,
        startedAtMs: t0,
        finishedAtMs: detail.finishedAt ? Math.max(t1, Date.parse(detail.finishedAt)) : t1,
        steps: detail.targets.flatMap((t) =>
          t.steps.map((s) => ({
            target: t.name,
            step: s.stepId ?? s.id ?? "?",
            startedAt: s.startedAt,
            finishedAt: s.finishedAt,
          })),
        ),
      };
      spans.push(span);
      const during = errors.filter((e) => e.atMs >= t0 && e.atMs <= span.finishedAtMs).length;
      perRollout.push({
        index: i,
        id,
        gapBeforeMs: gap,
        status: detail.status,
        durationMs: t1 - t0,
        drainProofClientErrors: detail.drainProof.clientErrors,
        clientErrors: during,
        targetsRolled: detail.targets.filter(
          (t) => t.status === "succeeded" && t.steps.some((st) => st.status === "succeeded"),
        ).length,
        failure: detail.failure,
      });
      log(
        `${lab.name} #${i} ${detail.status} in ${t1 - t0} ms (gap ${gap} ms, client errors ${during}, drain proof ${detail.drainProof.clientErrors})`,
      );
      if (i === 0 && detail.status === "failed" && detail.failure?.code === "param_invalid") {
        // Refused when the first step read the fleet (a workload kind the driver does not drive yet).
        skipped = `Ebb refuses to roll it: ${detail.failure.message}`;
        perRollout.length = 0;
        spans.length = 0;
        break;
      }
      if (detail.status !== "succeeded" && o.stopOnError) break;
    }
  } finally {
    reports = await load.stop();
    // A skipped fleet's world (pods, controllers) would only cost the others CPU from here on.
    if (skipped) await lab.stop();
  }
  const attributed = attributeErrors(errors, spans);
  const durations = perRollout.map((r) => r.durationMs);
  return {
    fleet: lab.name,
    runbook: lab.runbook,
    ...(skipped ? { skipped } : {}),
    rollouts: perRollout.length,
    statuses: countBy(perRollout, (r) => r.status),
    durationMs: Date.now() - started,
    meanRolloutMs: durations.length ? Math.round(durations.reduce((a, b) => a + b, 0) / durations.length) : 0,
    requests: Object.fromEntries(Object.entries(reports).map(([p, r]) => [p, r.requests])),
    errors: Object.fromEntries(
      Object.entries(reports).map(([p, r]) => [
        p,
        Object.fromEntries(ERROR_KINDS.map((k) => [k, r.errors[k] ?? 0])) as Record<ErrorKind, number>,
      ]),
    ),
    failedRequests: errors.length,
    errorsByStep: countBy(attributed, (e) =>
      e.rollout === null ? "between rollouts" : e.steps.length ? e.steps.join("+") : "between steps",
    ),
    quietSucceededWithErrors: perRollout.filter(
      (r) => r.status === "succeeded" && r.clientErrors > 0 && r.drainProofClientErrors === 0,
    ).length,
    hollowSucceeded: perRollout.filter((r) => r.status === "succeeded" && r.targetsRolled < lab.servers)
      .length,
    errorEvents: attributed.slice(0, 200),
    perRollout,
  };
}

/**
 * N consecutive rollouts of each lab fleet under strict keep-alive load, counting every client error by
 * kind and time and tying it to the step that was running (issue 17). Used by `npm run bench:soak` (the long
 * run) and by the CI test (a short one): the same code, different knobs.
 */
export async function runSoak(o: SoakOptions): Promise<SoakReport> {
  const log = o.log ?? (() => {});
  const t0 = Date.now();
  const labs: FleetLab[] = [];
  const results: SoakFleetResult[] = [];
  const keepAlive = labVmTimings(o.timeScale).keepAliveTimeoutMs;
  const stalls = watchStalls(100);
  try {
    const runnable: { lab: FleetLab; seed: number }[] = [];
    for (const [i, name] of o.fleets.entries()) {
      const built = await buildFleet(name, o, log);
      if (typeof built === "string") {
        results.push(emptyResult(name, built));
        log(`${name}: skipped (${built})`);
        continue;
      }
      let stopped: Promise<void> | undefined;
      const stopOnce = built.stop;
      built.stop = () => {
        stopped ??= stopOnce();
        return stopped;
      };
      labs.push(built);
      runnable.push({ lab: built, seed: (o.seed + i * 7919) >>> 0 });
    }
    // A fleet that cannot run (its load never reached every server, a stuck rollout) is reported as such; the
    // other fleets' results stand.
    const run = ({ lab, seed }: { lab: FleetLab; seed: number }) =>
      soakFleet(lab, o, seed, log).catch((err: Error) =>
        emptyResult(lab.name, `did not run: ${err.message}`),
      );
    if (o.parallel === false) {
      for (const r of runnable) results.push(await run(r));
    } else {
      results.push(...(await Promise.all(runnable.map(run))));
    }
  } finally {
    await Promise.allSettled(labs.map((l) => l.stop()));
    stalls.stop();
  }
  const order = (name: string) => o.fleets.indexOf(name);
  results.sort((a, b) => order(a.fleet) - order(b.fleet));
  const ran = results.filter((r) => !r.skipped);
  return {
    seed: o.seed,
    setup: {
      fleets: [...o.fleets],
      rolloutsPerFleet: o.rollouts,
      ...(o.untilMs !== undefined ? { until: new Date(o.untilMs).toISOString() } : {}),
      timeScale: o.timeScale,
      propagationDelayMs: o.propagationDelayMs,
      maxGapMs: o.maxGapMs,
      backToBackShare: o.backToBackShare,
      profiles: Object.fromEntries(o.profiles.map((p) => [p, profileLoad(p, keepAlive)])),
    },
    eventLoopStalls: {
      count: stalls.list.length,
      maxMs: Math.max(0, ...stalls.list.map((x) => x.ms)),
      first: stalls.list.slice(0, 20),
    },
    fleets: results,
    totals: {
      rollouts: ran.reduce((n, r) => n + r.rollouts, 0),
      requests: ran.reduce((n, r) => n + Object.values(r.requests).reduce((a, b) => a + b, 0), 0),
      failedRequests: ran.reduce((n, r) => n + r.failedRequests, 0),
      quietSucceededWithErrors: ran.reduce((n, r) => n + r.quietSucceededWithErrors, 0),
      hollowSucceeded: ran.reduce((n, r) => n + r.hollowSucceeded, 0),
    },
    durationMs: Date.now() - t0,
  };
}

/** Records every gap between 20 ms ticks that ran late by more than `thresholdMs`. */
function watchStalls(thresholdMs: number): { list: { atMs: number; ms: number }[]; stop(): void } {
  const list: { atMs: number; ms: number }[] = [];
  let last = Date.now();
  const timer = setInterval(() => {
    const now = Date.now();
    const late = now - last - 20;
    if (late > thresholdMs) list.push({ atMs: last, ms: late });
    last = now;
  }, 20);
  timer.unref();
  return { list, stop: () => clearInterval(timer) };
}

function emptyResult(fleet: string, skipped: string): SoakFleetResult {
  return {
    fleet,
    runbook: SOAK_FLEETS[fleet as SoakFleetName] ?? "",
    skipped,
    rollouts: 0,
    statuses: {},
    durationMs: 0,
    meanRolloutMs: 0,
    requests: {},
    errors: {},
    failedRequests: 0,
    errorsByStep: {},
    quietSucceededWithErrors: 0,
    hollowSucceeded: 0,
    errorEvents: [],
    perRollout: [],
  };
}
