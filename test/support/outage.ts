import { type ChildProcess, execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, readdirSync } from "node:fs";
import { chown, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { builtinRunbookSource } from "@ebb/core";
import { type LoadGenerator, registerWorld, vmStatus } from "@ebb/lab";
import { freePort, waitFor } from "@ebb/testkit";
import { expect } from "vitest";
import { openDatabase } from "../../apps/api/src/database/client.js";
import { pingRedis } from "../../apps/api/src/redis/probe.js";
import type { TestDatabase } from "../../apps/api/test-support/database.js";
import type { RunningEbb } from "./ebb.js";
import {
  command,
  createRollout,
  describeTargets,
  errorsOf,
  getRollout,
  type Lab,
  stepRuns,
  storeRunbook,
  TERMINAL,
  targetOf,
  untilInService,
  untilRollout,
} from "./rollouts.js";

/**
 * Infrastructure a test can really take away and give back: a redis-server and a PostgreSQL cluster of
 * the test's own, stopped as a process (gone, port closed) and started again on the same port.
 */

const run = promisify(execFile);

export interface Outageable {
  url: string;
  /** The server process is gone once this resolves: nothing listens on its port. */
  stop(): Promise<void>;
  /**
   * Started again on the same port (and, for PostgreSQL, the same data); resolves once it answers. A no-op
   * while it runs (a test's cleanup brings it back before stopping what uses it).
   */
  start(): Promise<void>;
  cleanup(): Promise<void>;
}

/**
 * A redis-server with no persistence at all: after a stop and start it is empty, so every job (waiting,
 * delayed, active) is lost and only the reconciler can bring the rollouts' work back.
 */
export async function startOwnRedis(): Promise<Outageable> {
  const host = "127.0.0.1";
  const port = await freePort(host);
  const dir = await mkdtemp(path.join(tmpdir(), "ebb-outage-redis-"));
  const url = `redis://${host}:${port}`;
  let child: ChildProcess | undefined;
  const start = async () => {
    if (child && child.exitCode === null && child.signalCode === null) return;
    const proc = spawn(
      "redis-server",
      [
        ["--bind", host],
        ["--port", String(port)],
        ["--save", ""],
        ["--appendonly", "no"],
        ["--dir", dir],
        ["--maxmemory-policy", "noeviction"],
        ["--daemonize", "no"],
      ].flat(),
      { stdio: "ignore" },
    );
    child = proc;
    await waitFor(
      async () => {
        if (proc.exitCode !== null) throw new Error(`redis-server exited (${proc.exitCode}) on port ${port}`);
        return pingRedis(url, { timeoutMs: 300 });
      },
      { timeoutMs: 10_000, what: `redis-server answering on ${url}` },
    );
  };
  const stop = async () => {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = once(proc, "exit");
    // A crash, not a shutdown: nothing is saved, clients see their sockets reset.
    proc.kill("SIGKILL");
    await exited;
  };
  await start();
  return {
    url,
    start,
    stop,
    async cleanup() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A PostgreSQL cluster of the test's own (Debian's binaries, its own port and socket folder in a temp
 * dir), never the machine's shared one on 5432. initdb and postgres refuse root, so as root they run as
 * the `postgres` user. `stop` is `pg_ctl stop -m immediate`: every backend killed, no checkpoint (a crash).
 */
export async function startOwnPostgres(): Promise<Outageable & { database(): Promise<TestDatabase> }> {
  const bin = await postgresBin();
  const port = await freePort("127.0.0.1");
  const dir = await mkdtemp(path.join(tmpdir(), "ebb-outage-pg-"));
  const data = path.join(dir, "data");
  const sockets = path.join(dir, "sockets");
  await mkdir(sockets);
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const { stdout } = await run("id", ["-u", "postgres"]);
    const { stdout: gid } = await run("id", ["-g", "postgres"]);
    await chown(dir, Number(stdout), Number(gid));
    await chown(sockets, Number(stdout), Number(gid));
  }
  const pg = (tool: string, args: string[]) =>
    asRoot
      ? run("runuser", ["-u", "postgres", "--", path.join(bin, tool), ...args])
      : run(path.join(bin, tool), args);
  await pg("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync"]);
  const options = `-p ${port} -k ${sockets} -c listen_addresses=127.0.0.1 -c fsync=off`;
  const url = `postgresql://postgres@127.0.0.1:${port}/postgres`;
  let running = false;
  const start = async () => {
    if (running) return;
    running = true;
    await pg("pg_ctl", ["-D", data, "-o", options, "-l", path.join(dir, "postgres.log"), "-w", "start"]);
  };
  const stop = async () => {
    if (!running) return;
    running = false;
    await pg("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]);
  };
  await start();
  return {
    url,
    start,
    stop,
    async database() {
      const db = await openDatabase({ url, dataDir: "" });
      return { ...db, config: { url, dataDir: "" }, drop: () => db.close() };
    },
    async cleanup() {
      await stop().catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Where Debian keeps PostgreSQL's server binaries (the newest version), or undefined when the server is
 * not installed: CI installs it (`.ci/run`); a machine without it skips the PostgreSQL outage test.
 */
export function postgresBinDir(): string | undefined {
  let versions: string[];
  try {
    versions = readdirSync("/usr/lib/postgresql");
  } catch {
    return undefined;
  }
  return versions
    .sort((a, b) => Number(b) - Number(a))
    .map((v) => path.join("/usr/lib/postgresql", v, "bin"))
    .find((d) => existsSync(path.join(d, "initdb")));
}

async function postgresBin(): Promise<string> {
  const dir = postgresBinDir();
  if (!dir)
    throw new Error("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (apt install postgresql)");
  return dir;
}

/**
 * `l4-drain` with short command deadlines (8 s, the stop's 45 s included): short enough that a 30 s outage
 * passes them by the clock, long enough for the lab's commands on a busy machine. The await steps keep
 * the deadlines the device's timing gives them (under a second in the lab). `gated` adds an approval
 * before the deploy.
 */
export function shortDeadlineDrain(name: string, opts: { gated?: boolean } = {}): string {
  let source = builtinRunbookSource("l4-drain");
  if (!/^name: l4-drain$/m.test(source) || !source.includes("    timeout: 45s\n"))
    throw new Error("l4-drain changed shape: update the test");
  source = source
    .replace("    timeout: 45s\n", "")
    .replace(/^( {4}run: .*\n)/gm, `$1    timeout: ${SHORT_TIMEOUT_S}s\n`)
    .replace(/^name: l4-drain$/m, `name: ${name}`);
  if (opts.gated) {
    const at = source.indexOf("  - id: deploy\n");
    const gate = "  - id: approve-deploy\n    type: approval\n    message: deploy now?\n\n";
    source = `${source.slice(0, at)}${gate}${source.slice(at)}`;
  }
  return source;
}

export const SHORT_TIMEOUT_S = 8;

export const OUTAGE_MS = 30_000;

export interface OutageWorld {
  lab: Lab;
  ebb: RunningEbb;
  load: LoadGenerator;
}

/** The lab split into two fleets on one device: `lab-a` (vm1, vm2) and `lab-b` (vm3, vm4). */
export async function registerTwoFleets(prisma: RunningEbb["prisma"], lab: Lab): Promise<void> {
  await registerWorld(prisma, { ...lab, vms: lab.vms.slice(0, 2) }, { name: "lab-a" });
  await registerWorld(prisma, { ...lab, vms: lab.vms.slice(2) }, { name: "lab-b" });
}

/**
 * Two rollouts under keep-alive load, then `infra` stopped for OUTAGE_MS and started again:
 * - rollout A (lab-a) is waiting: vm1 at await-unbound, its re-check a delayed job;
 * - rollout B (lab-b) is between steps: vm3's gate is approved just as the outage begins (during it, when
 *   the database is up; just before it otherwise), so its deploy has begun, with its deadline, and its
 *   job is lost, fails or cannot be written.
 * Returns the two rollout ids, the deadlines the steps had when the outage began and when it ended.
 */
export async function rolloutsThroughAnOutage(
  w: OutageWorld,
  infra: Outageable,
  opts: { approveDuringOutage: boolean },
): Promise<{
  a: string;
  b: string;
  deadlines: number[];
  stoppedAt: number;
  restartedAt: number;
  cpuShare: number;
}> {
  const { ebb } = w;
  await storeRunbook(ebb, "outage-drain", shortDeadlineDrain("outage-drain"));
  await storeRunbook(ebb, "outage-drain-gated", shortDeadlineDrain("outage-drain-gated", { gated: true }));
  const b = await createRollout(ebb, { fleet: "lab-b", version: "2.0.0", runbook: "outage-drain-gated" });
  await untilRollout(ebb, b, (v) => targetOf(v, "vm3").status === "awaitingApproval", "vm3 at the gate");
  const a = await createRollout(ebb, { fleet: "lab-a", version: "2.0.0", runbook: "outage-drain" });
  await untilRollout(ebb, a, (v) => targetOf(v, "vm1").step === "await-unbound", "vm1 at await-unbound");

  const approve = async () => {
    const approved = await command(ebb, b, "approve");
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);
  };
  // The deadlines in force for the steps in flight, read as close to the outage as the database allows.
  let deadlines: number[] = [];
  if (!opts.approveDuringOutage) {
    await approve();
    deadlines = await deadlinesOf(ebb, [a, b]);
  }
  await infra.stop();
  const stoppedAt = Date.now();
  const cpuBefore = process.cpuUsage();
  if (opts.approveDuringOutage) {
    await approve();
    deadlines = await deadlinesOf(ebb, [a, b]);
  }

  // Ebb cannot work for OUTAGE_MS. The length is the scenario, not a guess at some other condition.
  await waitFor(() => Date.now() - stoppedAt >= OUTAGE_MS, {
    timeoutMs: OUTAGE_MS + 5_000,
    intervalMs: 250,
    what: "the outage's end",
  });
  const cpu = process.cpuUsage(cpuBefore);
  // CPU time of this process (Ebb's api and worker, the device, the load) per wall second of the outage.
  const cpuShare = (cpu.user + cpu.system) / 1_000 / (Date.now() - stoppedAt);
  await infra.start();
  const restartedAt = Date.now();
  return { a, b, deadlines, stoppedAt, restartedAt, cpuShare };
}

/** The stored deadline of every target run with a step in flight. */
async function deadlinesOf(ebb: RunningEbb, ids: string[]): Promise<number[]> {
  const rows = await ebb.prisma.rollout.findMany({ where: { id: { in: ids } }, select: { state: true } });
  return rows.flatMap((r) =>
    Object.values((r.state as { targets: Record<string, { deadline?: number }> }).targets).flatMap((t) =>
      t.deadline === undefined ? [] : [t.deadline],
    ),
  );
}

/**
 * After the outage: both rollouts succeed, every target ran every step once (attempt 1: nothing failed
 * and was retried), every VM runs the new version in service, and no client request failed.
 */
export async function expectCleanFinish(w: OutageWorld, ids: string[]): Promise<void> {
  for (const id of ids) {
    // An operator approves each gate as it comes (rollout B's vm4 meets one after the outage).
    const done = await untilRollout(
      w.ebb,
      id,
      (v) => {
        if (v.targets.some((t) => t.status === "awaitingApproval")) void command(w.ebb, id, "approve");
        return (TERMINAL as readonly string[]).includes(v.status);
      },
      `rollout ${id} to finish`,
      60_000,
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${describeTargets(await getRollout(w.ebb, id))}`);
    });
    expect(done.status, describeTargets(done)).toBe("succeeded");
    for (const t of done.targets) {
      const steps = await stepRuns(w.ebb, id, t.name);
      expect(
        steps.map((s) => [s.stepId, s.attempt, s.status]),
        `${t.name}: ${JSON.stringify(steps.map((s) => s.error))}`,
      ).toEqual(steps.map((s) => [s.stepId, 1, "succeeded"]));
    }
  }
  for (const v of w.lab.vms) {
    expect(await vmStatus(v.dir)).toMatchObject({ running: true, runningVersion: "2.0.0" });
    await untilInService(w.lab, v.name);
  }
  const errors = errorsOf(await w.load.stop());
  expect(errors.count, errors.samples).toBe(0);
}
