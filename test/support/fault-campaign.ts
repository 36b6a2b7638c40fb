import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { RolloutView } from "@ebb/contracts";
import { builtinRunbookSource } from "@ebb/core";
import { HaproxyBalancer } from "@ebb/drivers";
import {
  haproxyAvailable,
  isPodReady,
  K8S_PODS,
  type K8sPod,
  LoadGenerator,
  type LoadReport,
  registerHaproxyWorld,
  registerLabPods,
  registerWorld,
  startVm,
  stopVm,
  type VmFaults,
  vmPaths,
} from "@ebb/lab";
import { freePort, waitFor } from "@ebb/testkit";
import { Redis } from "ioredis";
import { givenLabCluster } from "../k8s/support.js";
import { TEST_ADMIN_TOKEN } from "./ebb.js";
import { givenHaproxy } from "./haproxy.js";
import { type Outageable, startOwnPostgres, startOwnRedis } from "./outage.js";
import { startTcpProxy, type TcpProxy } from "./tcp-proxy.js";
import { givenLab } from "./world.js";

/**
 * The fault campaign of issue #13 §3: rollouts of `lab`, `lab-haproxy` and `lab-pods` without end on three
 * worker processes and two API processes (PostgreSQL and Redis of the campaign's own), under keep-alive
 * load, while faults drawn from a seeded generator land at random points. Invariants are checked as it
 * runs and reported, never asserted here: the CI test and `bench/faults.mjs` share this driver and decide.
 */

export const FAULT_KINDS = [
  "worker-kill-9",
  "all-workers-kill-9",
  "redis-stop",
  "redis-flushall",
  "postgres-restart",
  "balancer-admin-unreachable",
  "network-stall",
  "target-stop-hangs",
  "target-never-healthy",
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface CampaignOptions {
  seed: number;
  /** How long faults are injected; the rollouts under way then finish (bounded) and the checks end. */
  durationMs: number;
  /** Scales the outages' lengths: 1 is the issue's 10 s Redis and 15 s balancer admin outages. */
  faultScale: number;
  /** Mean gap between two infrastructure faults. */
  meanGapMs: number;
  /** A rollout must reach a terminal state or one that waits for a person within this. */
  rolloutBoundMs: number;
  /** First octet pair of the loopback nets the campaign uses (three consecutive: net, net+1, net+2). */
  net: number;
  log?: (line: string) => void;
}

export interface InvariantResult {
  held: boolean;
  detail: unknown;
}

export interface CampaignReport {
  seed: number;
  replay: string;
  durationMs: number;
  faultScale: number;
  fleets: string[];
  workers: number;
  apis: number;
  faults: { total: number; byKind: Record<string, number> };
  rollouts: { total: number; byOutcome: Record<string, number>; byFleet: Record<string, number> };
  operatorActions: Record<string, number>;
  invariants: {
    noRolloutStuck: InvariantResult;
    noOverlappingCommands: InvariantResult;
    nonIdempotentAtMostOnce: InvariantResult;
    maxUnavailableHeld: InvariantResult;
    zeroClientErrors: InvariantResult;
    auditChainVerifies: InvariantResult;
  };
  allHeld: boolean;
  notes: string[];
}

/** mulberry32: small, fast, and the same sequence from the same seed everywhere. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const root = path.resolve(import.meta.dirname, "../..");
const auth = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
const MAX_UNAVAILABLE = 1;
const NON_IDEMPOTENT_STEP = "record-release";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A drain runbook with short command deadlines (a hung stop fails within seconds) and one command that is
 * not idempotent (`ebb-vm status`, logged with its rollout: at most one launch per rollout and target).
 */
export function campaignRunbook(base: "l4-drain" | "haproxy-drain", name: string): string {
  let source = builtinRunbookSource(base);
  if (!source.includes("    timeout: 45s\n") || !source.includes("  - id: start\n"))
    throw new Error(`${base} changed shape: update the fault campaign`);
  const step = `  - id: ${NON_IDEMPOTENT_STEP}\n    type: exec\n    idempotent: false\n    run: ["ebb-vm", "status"]\n\n`;
  source = source
    .replace("    timeout: 45s\n", "")
    .replace(/^( {4}run: .*\n)/gm, "$1    timeout: 8s\n")
    .replace(new RegExp(`^name: ${base}$`, "m"), `name: ${name}`);
  const at = source.indexOf("  - id: start\n");
  return `${source.slice(0, at)}${step}${source.slice(at)}`;
}

interface CommandLine {
  phase: "start" | "end";
  vm: string | null;
  rollout: string | null;
  argv: string[];
  pid: number;
  t: number;
}

interface FleetUnderTest {
  name: string;
  runbook: string | undefined;
  /** Versions of this fleet: `<major>.<n>.0`. */
  major: number;
  vmDirs: Map<string, string> | undefined;
  commandLog: string | undefined;
  /** Targets the balancer does not route to now, and whether Ebb (not a flap) took each out. */
  out(): Promise<{ out: string[]; byEbb: string[] } | undefined>;
  load: LoadGenerator;
  /** Balancer admin outage: begins, and ends when the returned function is called. */
  adminOutage?: () => Promise<() => Promise<void>>;
}

export async function runFaultCampaign(opts: CampaignOptions): Promise<CampaignReport> {
  const log = opts.log ?? (() => {});
  const rng = seededRandom(opts.seed);
  const startedAt = Date.now();
  const cleanups: (() => Promise<unknown>)[] = [];
  const notes: string[] = [];
  const faults: Record<string, number> = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0]));
  const outcomes: Record<string, number> = {};
  const byFleet: Record<string, number> = {};
  const operator: Record<string, number> = {};
  const stuck: { fleet: string; rollout: string; forMs: number; view: string }[] = [];
  const unexpected: { fleet: string; rollout: string; message: string }[] = [];
  let longestMs = 0;
  const maxOut: Record<string, { raw: number; byEbb: number; samples: number; violations: string[] }> = {};
  const fault = (kind: FaultKind, detail: string) => {
    faults[kind] = (faults[kind] ?? 0) + 1;
    log(`${((Date.now() - startedAt) / 1000).toFixed(1)}s fault ${kind} ${detail}`);
  };
  try {
    // Infrastructure of the campaign's own: PostgreSQL it can restart, Redis it can stop and flush.
    const pg = await startOwnPostgres();
    cleanups.push(() => pg.cleanup());
    const db = await pg.database();
    cleanups.push(() => db.drop());
    const redis = await startOwnRedis();
    cleanups.push(() => redis.cleanup());
    const dataDir = await mkdtemp(path.join(tmpdir(), "ebb-faults-"));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));

    // The fleets. `lab`: the L4 device, its admin API and every VM's port behind proxies the campaign
    // controls (the runbook's verify reaches the VM through its proxy; the clients go through the VIP).
    const fleets: FleetUnderTest[] = [];
    const labNet = opts.net;
    const lab = await givenLab(labNet);
    cleanups.push(() => lab.cleanup());
    const host = `127.0.${labNet}.1`;
    const adminUrl = new URL(lab.device.adminUrl);
    const adminProxy = await startTcpProxy(
      { host },
      { host: adminUrl.hostname, port: Number(adminUrl.port) },
    );
    cleanups.push(() => adminProxy.close());
    const vmProxies: TcpProxy[] = [];
    for (const vm of lab.vms) {
      const p = await startTcpProxy({ host: `127.0.${labNet}.2` }, { host: vm.host, port: vm.port });
      vmProxies.push(p);
      cleanups.push(() => p.close());
    }
    const labLog = path.join(dataDir, "commands-lab.jsonl");
    await registerWorld(
      db.prisma,
      {
        ...lab,
        device: { ...lab.device, adminUrl: adminProxy.url, vipUrl: lab.device.vipUrl },
        vms: lab.vms.map((vm, i) => ({ ...vm, host: vmProxies[i]!.host, port: vmProxies[i]!.port })),
      } as typeof lab,
      { env: { EBB_VM_COMMAND_LOG: labLog } },
    );
    await storeRunbook(db.prisma, "faults-l4-drain", campaignRunbook("l4-drain", "faults-l4-drain"));
    fleets.push({
      name: "lab",
      runbook: "faults-l4-drain",
      major: 2,
      vmDirs: new Map(lab.vms.map((v) => [v.name, v.dir])),
      commandLog: labLog,
      load: await startLoad([lab.device.vipUrl], lab.vms.length),
      async out() {
        const out = lab.device
          .servers()
          .filter((s) => !s.bound)
          .map((s) => s.name);
        return { out, byEbb: out.filter((n) => takenOutByEbb(lab.vms.find((v) => v.name === n)!.dir)) };
      },
      async adminOutage() {
        // Alternately refused (the admin API is down) and black-holed (the network to it is).
        const mode = rng() < 0.5 ? "refuse" : "stall";
        adminProxy.setMode(mode);
        return async () => adminProxy.setMode("pass");
      },
    });

    // `lab-haproxy`: a real HAProxy; its Runtime API (a UNIX socket) goes away by renaming the socket.
    if (haproxyAvailable()) {
      const hx = await givenHaproxy(opts.net + 1, "tcp", { vms: 3 });
      cleanups.push(() => hx.cleanup());
      const hxLog = path.join(dataDir, "commands-haproxy.jsonl");
      await registerHaproxyWorld(db.prisma, hx, { env: { EBB_VM_COMMAND_LOG: hxLog } });
      await storeRunbook(
        db.prisma,
        "faults-haproxy-drain",
        campaignRunbook("haproxy-drain", "faults-haproxy-drain"),
      );
      const balancer = new HaproxyBalancer({ config: { socket: hx.socketPath, backend: hx.backend } });
      const targets = hx.vms.map((vm) => ({
        name: vm.name,
        host: vm.host,
        port: vm.port,
        executor: "local" as const,
        labels: {},
      }));
      fleets.push({
        name: "lab-haproxy",
        runbook: "faults-haproxy-drain",
        major: 3,
        vmDirs: new Map(hx.vms.map((v) => [v.name, v.dir])),
        commandLog: hxLog,
        load: await startLoad([hx.vipUrl], hx.vms.length),
        async out() {
          if (!existsSync(hx.socketPath)) return undefined;
          const states = await balancer.snapshot(targets).catch(() => undefined);
          if (!states) return undefined;
          const out = states.filter((s) => s.state !== "up");
          return {
            out: out.map((s) => s.name),
            byEbb: out
              .filter(
                (s) => s.state === "disabled" || takenOutByEbb(hx.vms.find((v) => v.name === s.name)!.dir),
              )
              .map((s) => s.name),
          };
        },
        async adminOutage() {
          const away = `${hx.socketPath}.away`;
          await rename(hx.socketPath, away);
          return async () => rename(away, hx.socketPath);
        },
      });
    } else notes.push("haproxy is not installed: lab-haproxy left out");

    // `lab-pods`: the emulated Kubernetes cluster's StatefulSet behind its Service.
    const k8s = await givenLabCluster(opts.net + 2, { replicas: 3 });
    cleanups.push(() => k8s.cleanup());
    await registerLabPods(db.prisma, k8s);
    fleets.push({
      name: "lab-pods",
      runbook: "k8s-pod-drain",
      major: 4,
      vmDirs: undefined,
      commandLog: undefined,
      load: await startLoad([k8s.proxyUrl], k8s.pods.length),
      async out() {
        const out = k8s.pods
          .filter((p) => {
            const pod = k8s.cluster.store.peek(K8S_PODS, k8s.namespace, p.name) as K8sPod | undefined;
            return !pod || !isPodReady(pod);
          })
          .map((p) => p.name);
        return { out, byEbb: out };
      },
    });
    for (const f of fleets) cleanups.push(() => f.load.stop());

    // Two API processes and three workers, all real processes of `node apps/api/dist/main.js`.
    const env = {
      ...process.env,
      DATABASE_URL: pg.url,
      REDIS_URL: redis.url,
      EBB_DATA_DIR: dataDir,
      EBB_LOCK_DIR: path.join(dataDir, "locks"),
      EBB_RECONCILE_INTERVAL_MS: "500",
      EBB_JOB_LOCK_MS: "2000",
      EBB_LOG_LEVEL: "error",
      EBB_ADMIN_TOKEN: TEST_ADMIN_TOKEN,
      EBB_METRICS_PORT: "0",
    };
    const spawnEbb = (extra: Record<string, string>): ChildProcess =>
      spawn(process.execPath, [path.join(root, "apps/api/dist/main.js")], {
        env: { ...env, ...extra },
        stdio: ["ignore", "ignore", "ignore"],
      });
    const apiUrls: string[] = [];
    const apis: ChildProcess[] = [];
    for (let i = 0; i < 2; i++) {
      const port = await freePort(host);
      apis.push(spawnEbb({ EBB_ROLE: "api", EBB_API_HOST: host, EBB_API_PORT: String(port) }));
      apiUrls.push(`http://${host}:${port}/api/v1`);
    }
    cleanups.push(async () => {
      for (const a of apis) await killProcess(a, "SIGTERM");
    });
    for (const url of apiUrls)
      await waitFor(
        () =>
          fetch(`${url}/fleets`, { headers: auth }).then(
            (r) => r.ok,
            () => false,
          ),
        {
          timeoutMs: 30_000,
          what: `the API at ${url}`,
        },
      );
    const workers: (ChildProcess | undefined)[] = [undefined, undefined, undefined];
    const startWorker = (i: number) => {
      workers[i] = spawnEbb({ EBB_ROLE: "worker" });
    };
    const killWorker = async (i: number) => {
      const w = workers[i];
      workers[i] = undefined;
      if (w) await killProcess(w, "SIGKILL");
    };
    cleanups.push(async () => {
      for (let i = 0; i < workers.length; i++) await killWorker(i);
    });
    for (let i = 0; i < workers.length; i++) startWorker(i);

    let apiTurn = 0;
    /** One call to either API process (in turn), retried while the database or Redis is away. */
    const call = async <T>(method: string, route: string, body?: unknown): Promise<T> => {
      let lastErr = "";
      for (let i = 0; i < 120; i++) {
        const url = apiUrls[apiTurn++ % apiUrls.length]!;
        try {
          const res = await fetch(`${url}${route}`, {
            method,
            headers: { ...auth, ...(body === undefined ? {} : { "content-type": "application/json" }) },
            ...(body === undefined ? {} : { body: JSON.stringify(body) }),
            signal: AbortSignal.timeout(10_000),
          });
          const text = await res.text();
          if (res.ok) return JSON.parse(text) as T;
          lastErr = `${method} ${route}: ${res.status} ${text.slice(0, 300)}`;
          // 409/422: the command does not apply now; the caller decides.
          if (res.status === 409 || res.status === 422 || res.status === 400) throw new ApiRefusal(lastErr);
        } catch (err) {
          if (err instanceof ApiRefusal) throw err;
          lastErr = `${method} ${route}: ${(err as Error).message}`;
        }
        await sleep(500);
      }
      throw new Error(`gave up: ${lastErr}`);
    };

    // --- Invariant checks, continuously -----------------------------------------------------------
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        for (const f of fleets) {
          const seen = await f.out().catch(() => undefined);
          maxOut[f.name] ??= { raw: 0, byEbb: 0, samples: 0, violations: [] };
          const m = maxOut[f.name]!;
          if (!seen) continue;
          m.samples++;
          m.raw = Math.max(m.raw, seen.out.length);
          m.byEbb = Math.max(m.byEbb, seen.byEbb.length);
          if (seen.byEbb.length > MAX_UNAVAILABLE && m.violations.length < 10)
            m.violations.push(`${new Date().toISOString()} out: ${seen.byEbb.join(", ")}`);
        }
        await sleep(100);
      }
    })();
    const overlaps: string[] = [];
    const openCommands = new Map<string, CommandLine>();
    const launches = new Map<string, number>();
    const twice: string[] = [];
    const offsets = new Map<string, number>();
    let unended = 0;
    const scanLogs = async () => {
      for (const f of fleets) {
        if (!f.commandLog || !existsSync(f.commandLog)) continue;
        const text = await readFile(f.commandLog, "utf8");
        const from = offsets.get(f.commandLog) ?? 0;
        const end = text.lastIndexOf("\n") + 1;
        offsets.set(f.commandLog, Math.max(from, end));
        for (const line of text.slice(from, end).split("\n")) {
          if (!line.trim()) continue;
          const c = JSON.parse(line) as CommandLine;
          const key = `${f.name}/${c.vm}`;
          if (c.phase === "start") {
            const open = openCommands.get(key);
            // A command that never logged its end was killed (its deadline): it only overlaps the next one
            // if its process still lives.
            if (open && open.pid !== c.pid) {
              if (alive(open.pid))
                overlaps.push(`${key}: ${open.argv.join(" ")} (pid ${open.pid}) and ${c.argv.join(" ")}`);
              else unended++;
            }
            openCommands.set(key, c);
            if (c.argv[0] === "status" && c.rollout) {
              const k = `${c.rollout}/${c.vm}`;
              const n = (launches.get(k) ?? 0) + 1;
              launches.set(k, n);
              if (n > 1) twice.push(`${f.name} ${k} launched ${n} times`);
            }
          } else if (openCommands.get(key)?.pid === c.pid) openCommands.delete(key);
        }
      }
    };
    let scanning = true;
    const scanner = (async () => {
      while (scanning) {
        await scanLogs().catch((err: Error) => notes.push(`command log scan: ${err.message}`));
        await sleep(200);
      }
    })();

    // --- Faults -----------------------------------------------------------------------------------
    const injectUntil = startedAt + opts.durationMs;
    const scaled = (ms: number) => Math.max(500, Math.round(ms * opts.faultScale));
    let infraBusy = false;
    let adminBusy = false;
    let stallBusy = false;
    const background: Promise<unknown>[] = [];
    const restartAll = async () => {
      for (let i = 0; i < workers.length; i++) if (!workers[i]) startWorker(i);
    };
    const injectors: Record<string, () => Promise<void> | undefined> = {
      "worker-kill-9": () => {
        const i = Math.floor(rng() * workers.length);
        const delay = Math.floor(rng() * 1_000);
        fault("worker-kill-9", `worker ${i}, restarted after ${delay} ms`);
        return (async () => {
          await killWorker(i);
          await sleep(delay);
          startWorker(i);
        })();
      },
      "all-workers-kill-9": () => {
        const delay = Math.floor(rng() * 2_000);
        fault("all-workers-kill-9", `restarted after ${delay} ms`);
        return (async () => {
          await Promise.all(workers.map((_, i) => killWorker(i)));
          await sleep(delay);
          await restartAll();
        })();
      },
      "redis-stop": () => {
        if (infraBusy) return undefined;
        infraBusy = true;
        const ms = scaled(10_000);
        fault("redis-stop", `${ms} ms`);
        return outage(redis, ms).finally(() => {
          infraBusy = false;
        });
      },
      "redis-flushall": () => {
        if (infraBusy) return undefined;
        fault("redis-flushall", "");
        return flushAll(redis.url);
      },
      "postgres-restart": () => {
        if (infraBusy) return undefined;
        infraBusy = true;
        const ms = Math.floor(rng() * scaled(3_000));
        fault("postgres-restart", `down ${ms} ms`);
        return outage(pg, ms).finally(() => {
          infraBusy = false;
        });
      },
      "balancer-admin-unreachable": () => {
        if (adminBusy) return undefined;
        const candidates = fleets.filter((f) => f.adminOutage);
        const f = candidates[Math.floor(rng() * candidates.length)]!;
        adminBusy = true;
        const ms = scaled(15_000);
        fault("balancer-admin-unreachable", `${f.name} ${ms} ms`);
        return (async () => {
          const end = await f.adminOutage!();
          await sleep(ms);
          await end();
        })().finally(() => {
          adminBusy = false;
        });
      },
      "network-stall": () => {
        if (stallBusy) return undefined;
        stallBusy = true;
        const ms = scaled(5_000);
        fault("network-stall", `lab VMs' ports ${ms} ms`);
        return (async () => {
          for (const p of vmProxies) p.setMode("stall");
          await sleep(ms);
          for (const p of vmProxies) p.setMode("pass");
        })().finally(() => {
          stallBusy = false;
        });
      },
    };
    const weights: [string, number][] = [
      ["worker-kill-9", 4],
      ["all-workers-kill-9", 1],
      ["redis-stop", 1],
      ["redis-flushall", 1.5],
      ["postgres-restart", 1.5],
      ["balancer-admin-unreachable", 1],
      ["network-stall", 1.5],
    ];
    const pickKind = () => {
      const total = weights.reduce((a, [, w]) => a + w, 0);
      let r = rng() * total;
      for (const [k, w] of weights) {
        r -= w;
        if (r < 0) return k;
      }
      return weights[0]![0];
    };
    const injector = (async () => {
      while (Date.now() < injectUntil) {
        await sleep(Math.round(opts.meanGapMs * (0.3 + 1.4 * rng())));
        if (Date.now() >= injectUntil) break;
        // A kind whose outage is under way already draws again: every gap ends in a fault.
        let run: Promise<void> | undefined;
        for (let tries = 0; !run && tries < 10; tries++) run = injectors[pickKind()]!();
        if (run)
          background.push(
            run.catch((err: Error) => {
              notes.push(`fault failed: ${err.message}`);
            }),
          );
      }
    })();

    // --- Rollouts, one loop per fleet -------------------------------------------------------------
    const act = (name: string) => {
      operator[name] = (operator[name] ?? 0) + 1;
    };
    const rolloutLoop = async (f: FleetUnderTest) => {
      for (let n = 1; Date.now() < injectUntil; n++) {
        const version = `${f.major}.${n}.0`;
        // A target fault armed on one VM for this rollout: its stop hangs, or it never becomes healthy.
        let armed: { vm: string; kind: "target-stop-hangs" | "target-never-healthy" } | undefined;
        if (f.vmDirs && rng() < 0.3) {
          const names = [...f.vmDirs.keys()];
          const vm = names[Math.floor(rng() * names.length)]!;
          const kind = rng() < 0.5 ? "target-stop-hangs" : "target-never-healthy";
          armed = { vm, kind };
          await setVmFaults(
            f.vmDirs.get(vm)!,
            kind === "target-stop-hangs"
              ? { hangOnStop: true }
              : {
                  neverHealthy: true,
                },
          );
          fault(kind, `${f.name}/${vm}`);
        }
        const created = await call<{ id: string }>("POST", "/rollouts", {
          fleet: f.name,
          version,
          ...(f.runbook ? { runbook: f.runbook } : {}),
          // FAULT_ASK_MAX_UNAVAILABLE: a rollout allowed more than the campaign holds Ebb to, which the
          // balancer check must catch (how the check itself was shown red).
          maxUnavailable: Number(process.env.FAULT_ASK_MAX_UNAVAILABLE ?? MAX_UNAVAILABLE),
        });
        const id = created.id;
        byFleet[f.name] = (byFleet[f.name] ?? 0) + 1;
        const began = Date.now();
        let phaseStart = began;
        let outcome = "";
        let retries = 0;
        let faultHit = false;
        for (;;) {
          await sleep(250);
          const view = await call<RolloutView>("GET", `/rollouts/${id}`);
          if (view.status === "succeeded") {
            outcome = faultHit ? "succeeded-after-operator" : "succeeded";
            break;
          }
          const waitingForPerson = view.status === "failed" || view.status === "paused";
          if (waitingForPerson) {
            longestMs = Math.max(longestMs, Date.now() - phaseStart);
            const failed = view.targets.find((t) => t.status === "failed");
            const code = (failed?.error as { code?: string } | undefined)?.code;
            if (!failed) {
              outcome = `ended-${view.status}`;
              break;
            }
            faultHit = true;
            if (code === "outcome_unknown") {
              // The person's answer: `ebb-vm status` changes nothing, count it as done.
              act("skip-outcome-unknown");
              await call("POST", `/rollouts/${id}/skip`, { target: failed.name }).catch(() => {});
            } else if (armed && failed.name === armed.vm) {
              // The operator's fix: clear the fault (a hung server honours its next SIGTERM; a never
              // healthy one, out of service, is restarted), then retry the step.
              act(`repair-${armed.kind}`);
              const dir = f.vmDirs!.get(armed.vm)!;
              await setVmFaults(dir, {});
              if (armed.kind === "target-never-healthy" && failed.step !== "stop") await restartVm(dir);
              armed = undefined;
              await call("POST", `/rollouts/${id}/retry`, { target: failed.name }).catch(() => {});
            } else {
              unexpected.push({
                fleet: f.name,
                rollout: id,
                message: `${failed.name} ${failed.step}: ${failed.error?.message}`,
              });
              if (++retries > 3) {
                act("abort");
                await call("POST", `/rollouts/${id}/abort`, {}).catch(() => {});
                outcome = "aborted-after-retries";
                await untilSettled(call, id, opts.rolloutBoundMs);
                break;
              }
              act("retry");
              await call("POST", `/rollouts/${id}/retry`, { target: failed.name }).catch(() => {});
            }
            phaseStart = Date.now();
            continue;
          }
          if (view.status === "aborted" || view.status === "rolled_back") {
            outcome = view.status;
            break;
          }
          if (Date.now() - phaseStart > opts.rolloutBoundMs) {
            stuck.push({
              fleet: f.name,
              rollout: id,
              forMs: Date.now() - phaseStart,
              view: view.targets.map((t) => `${t.name} ${t.status} ${t.step}`).join("; "),
            });
            act("abort-stuck");
            await call("POST", `/rollouts/${id}/abort`, {}).catch(() => {});
            outcome = "stuck";
            await untilSettled(call, id, opts.rolloutBoundMs).catch(() => {});
            break;
          }
        }
        longestMs = Math.max(longestMs, Date.now() - phaseStart);
        outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
        log(
          `${((Date.now() - startedAt) / 1000).toFixed(1)}s ${f.name} ${version} ${outcome} in ${Date.now() - began} ms`,
        );
        if (armed) {
          // The armed fault never met its VM (the rollout ended first): disarm it.
          await setVmFaults(f.vmDirs!.get(armed.vm)!, {});
        }
      }
    };
    await Promise.all(fleets.map((f) => rolloutLoop(f)));
    await injector;
    await Promise.all(background);
    await restartAll();

    // --- Final checks -----------------------------------------------------------------------------
    sampling = false;
    await sampler;
    await sleep(1_000);
    scanning = false;
    await scanner;
    await scanLogs();
    const loads: Record<string, { requests: number; errors: number; samples: unknown }> = {};
    for (const f of fleets) {
      const report: LoadReport = await f.load.stop();
      loads[f.name] = {
        requests: report.requests,
        errors: Object.values(report.errors).reduce((a, b) => a + b, 0),
        samples: report.errorSamples.slice(0, 3),
      };
    }
    const audit = await call<{ ok: boolean; checked: number; firstBroken: unknown }>(
      "GET",
      "/audit/verify",
    ).catch((err: Error) => ({ ok: false, checked: 0, firstBroken: err.message }));

    const invariants: CampaignReport["invariants"] = {
      noRolloutStuck: {
        held: stuck.length === 0,
        detail: { boundMs: opts.rolloutBoundMs, longestPhaseMs: longestMs, stuck },
      },
      noOverlappingCommands: {
        held: overlaps.length === 0,
        detail: { overlaps: overlaps.slice(0, 10), killedCommandsWithoutEnd: unended },
      },
      nonIdempotentAtMostOnce: {
        held: twice.length === 0,
        detail: { launchesChecked: launches.size, twice: twice.slice(0, 10) },
      },
      maxUnavailableHeld: {
        held: Object.values(maxOut).every((m) => m.byEbb <= MAX_UNAVAILABLE && m.samples > 0),
        detail: { maxUnavailable: MAX_UNAVAILABLE, byFleet: maxOut },
      },
      zeroClientErrors: {
        held: Object.values(loads).every((l) => l.errors === 0),
        detail: loads,
      },
      auditChainVerifies: { held: audit.ok === true, detail: audit },
    };
    if (unexpected.length)
      notes.push(`failures with no target fault armed: ${JSON.stringify(unexpected.slice(0, 10))}`);
    const total = Object.values(faults).reduce((a, b) => a + b, 0);
    return {
      seed: opts.seed,
      replay: `FAULT_SEED=${opts.seed}`,
      durationMs: Date.now() - startedAt,
      faultScale: opts.faultScale,
      fleets: fleets.map((f) => f.name),
      workers: workers.length,
      apis: apiUrls.length,
      faults: { total, byKind: faults },
      rollouts: {
        total: Object.values(outcomes).reduce((a, b) => a + b, 0),
        byOutcome: outcomes,
        byFleet,
      },
      operatorActions: operator,
      invariants,
      allHeld: Object.values(invariants).every((i) => i.held),
      notes,
    };
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  }
}

class ApiRefusal extends Error {}

async function untilSettled(
  call: <T>(method: string, route: string) => Promise<T>,
  id: string,
  timeoutMs: number,
): Promise<void> {
  await waitFor(
    async () => {
      const v = await call<RolloutView>("GET", `/rollouts/${id}`);
      return ["succeeded", "failed", "aborted", "rolled_back"].includes(v.status);
    },
    { timeoutMs, intervalMs: 250, what: `rollout ${id} settled` },
  );
}

async function storeRunbook(
  prisma: Awaited<ReturnType<Awaited<ReturnType<typeof startOwnPostgres>>["database"]>>["prisma"],
  name: string,
  source: string,
) {
  await prisma.runbookVersion.create({
    data: { name, version: 1, source, checksum: createHash("sha256").update(source).digest("hex") },
  });
}

function startLoad(urls: string[], servers: number): Promise<LoadGenerator> {
  const target = urls.map((u) => {
    const url = new URL(u);
    return { host: url.hostname, port: Number(url.port) };
  });
  const g = new LoadGenerator({ target, clients: 4, rate: 80 });
  g.start();
  return waitFor(() => Object.keys(g.snapshot().byServer).length === servers, {
    what: `all ${servers} servers answering through ${urls.join(", ")}`,
  }).then(() => g);
}

/** Out of service by Ebb's hand: its health check failed on purpose, or its server stopped. */
function takenOutByEbb(dir: string): boolean {
  const paths = vmPaths(dir);
  return existsSync(paths.healthCheckDisabled) || !existsSync(paths.pid);
}

/** Rewrites vm.json's faults atomically: the VM's commands and its server read it at any moment. */
async function setVmFaults(dir: string, faults: VmFaults): Promise<void> {
  const file = vmPaths(dir).config;
  const config = JSON.parse(await readFile(file, "utf8")) as Record<string, unknown>;
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify({ ...config, faults }, null, 2)}\n`);
  await rename(tmp, file);
}

/** The operator's restart of a server that is out of service (nobody routes to it). */
async function restartVm(dir: string): Promise<void> {
  await stopVm(dir, { signal: "SIGTERM" });
  await startVm(dir);
}

async function outage(infra: Outageable, ms: number): Promise<void> {
  await infra.stop();
  await sleep(ms);
  await infra.start();
}

async function flushAll(url: string): Promise<void> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await client.connect();
    await client.flushall();
  } finally {
    client.disconnect();
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function killProcess(p: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((resolve) => p.once("exit", resolve));
  p.kill(signal);
  await exited;
}
