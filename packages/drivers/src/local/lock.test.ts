import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { waitFor } from "@ebb/testkit";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { isRunning, pidsWithArg } from "../../test-support/proc.js";
import { Teardown } from "../../test-support/teardown.js";
import { LocalExecutor } from "./local-executor.js";
import { lockFilePath } from "./lock-file.js";

const teardown = new Teardown();
afterEach(() => teardown.run());

const PATH = "/usr/local/bin:/usr/bin:/bin";
const PACKAGE_DIR = fileURLToPath(new URL("../..", import.meta.url));
const REPO_DIR = join(PACKAGE_DIR, "../..");
const DIST_INDEX = join(PACKAGE_DIR, "dist/index.js");

// Appends "start|end <id> <ns>" lines; the 300 ms between them is the workload, long enough that two
// unserialised runs started together always overlap.
const TIMED_SCRIPT =
  'echo "start $ID $(date +%s%N)" >> "$LOG"; sleep 0.3; echo "end $ID $(date +%s%N)" >> "$LOG"';

interface Interval {
  id: string;
  start: bigint;
  end: bigint;
}

function intervals(log: string): Interval[] {
  const byId = new Map<string, Partial<Interval>>();
  for (const line of log.trim().split("\n")) {
    const [kind, id, ns] = line.split(" ");
    const entry = byId.get(id!) ?? { id: id! };
    if (kind === "start") entry.start = BigInt(ns!);
    else entry.end = BigInt(ns!);
    byId.set(id!, entry);
  }
  return [...byId.values()].map((e) => e as Interval).sort((a, b) => (a.start < b.start ? -1 : 1));
}

function overlaps(list: Interval[]): boolean {
  return list.some((a, i) => list.slice(i + 1).some((b) => b.start < a.end && a.start < b.end));
}

function tempDir(): string {
  return teardown.add(mkdtempSync(join(tmpdir(), "ebb-lock-")), (d) =>
    rmSync(d, { recursive: true, force: true }),
  );
}

/** Whether some process waits in flock(2) on this file (a "->" entry in /proc/locks). */
function hasBlockedWaiter(file: string): boolean {
  const inode = statSync(file).ino;
  return readFileSync("/proc/locks", "utf8")
    .split("\n")
    .some((line) => line.includes("->") && line.includes(`:${inode} `));
}

function killLockHolders(lockFile: string): void {
  for (const pid of pidsWithArg(lockFile)) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

beforeAll(() => {
  // The orphan tests run the executor in a separate Node process, from the built package.
  execFileSync(join(REPO_DIR, "node_modules/.bin/tsc"), ["-b", PACKAGE_DIR], {
    cwd: REPO_DIR,
    stdio: "inherit",
  });
});

describe("LocalExecutor per-target lock", () => {
  it("without a lock two runs on one target overlap; with it they never do", async () => {
    const dir = tempDir();
    const run = async (lockDir: string | undefined, log: string): Promise<Interval[]> => {
      // Two executors: two workers acting on the same target.
      const a = new LocalExecutor({ baseEnv: { PATH }, ...(lockDir ? { lockDir, target: "vm1" } : {}) });
      const b = new LocalExecutor({ baseEnv: { PATH }, ...(lockDir ? { lockDir, target: "vm1" } : {}) });
      const results = await Promise.all([
        a.run({ script: TIMED_SCRIPT, env: { ID: "a", LOG: log }, deadlineMs: 10_000 }),
        b.run({ script: TIMED_SCRIPT, env: { ID: "b", LOG: log }, deadlineMs: 10_000 }),
      ]);
      expect(results.map((r) => r.exitCode)).toEqual([0, 0]);
      return intervals(readFileSync(log, "utf8"));
    };

    const unlocked = await run(undefined, join(dir, "unlocked.log"));
    expect(unlocked).toHaveLength(2);
    expect(overlaps(unlocked)).toBe(true);

    const locked = await run(join(dir, "locks"), join(dir, "locked.log"));
    expect(locked).toHaveLength(2);
    expect(overlaps(locked)).toBe(false);
    expect(existsSync(lockFilePath(join(dir, "locks"), "vm1"))).toBe(true);
  });

  it("locks per target: another target's command runs meanwhile", async () => {
    const dir = tempDir();
    const log = join(dir, "log");
    const lockDir = join(dir, "locks");
    const results = await Promise.all(
      ["vm1", "vm2"].map((target) =>
        new LocalExecutor({ baseEnv: { PATH }, lockDir, target }).run({
          script: TIMED_SCRIPT,
          env: { ID: target, LOG: log },
          deadlineMs: 10_000,
        }),
      ),
    );
    expect(results.map((r) => r.exitCode)).toEqual([0, 0]);
    expect(overlaps(intervals(readFileSync(log, "utf8")))).toBe(true);
  });

  it("the lock wait counts against the deadline", async () => {
    const dir = tempDir();
    const lockDir = join(dir, "locks");
    const release = join(dir, "release");
    const log = join(dir, "log");
    teardown.defer(() => writeFileSync(release, ""));
    const holder = new LocalExecutor({ baseEnv: { PATH }, lockDir, target: "vm1" }).run({
      script: 'echo held >> "$LOG"; while [ ! -e "$RELEASE" ]; do sleep 0.02; done',
      env: { LOG: log, RELEASE: release },
      deadlineMs: 10_000,
    });
    await waitFor(() => existsSync(log), { what: "the lock holder to start" });
    const waiter = await new LocalExecutor({
      baseEnv: { PATH },
      lockDir,
      target: "vm1",
      killGraceMs: 100,
    }).run({
      script: 'echo ran >> "$LOG"',
      env: { LOG: log },
      deadlineMs: 300,
    });
    expect(waiter.timedOut).toBe(true);
    expect(readFileSync(log, "utf8")).toBe("held\n");
    writeFileSync(release, "");
    expect((await holder).exitCode).toBe(0);
  });

  it("a worker killed with SIGKILL leaves its command holding the lock; the next run waits for it", async () => {
    const dir = tempDir();
    const lockDir = join(dir, "locks");
    const lockFile = lockFilePath(lockDir, "vm1");
    const log = join(dir, "log");
    const release = join(dir, "release");
    teardown.defer(() => killLockHolders(lockFile));

    const worker: ChildProcess = spawn(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `const { LocalExecutor } = await import(process.env.DRIVERS);
         await new LocalExecutor({ baseEnv: { PATH: process.env.PATH }, lockDir: process.env.LOCK_DIR, target: "vm1" })
           .run({ script: process.env.SCRIPT, env: { LOG: process.env.LOG, RELEASE: process.env.RELEASE }, deadlineMs: 30000 });`,
      ],
      {
        stdio: ["ignore", "ignore", "pipe"],
        env: {
          PATH,
          DRIVERS: DIST_INDEX,
          LOCK_DIR: lockDir,
          LOG: log,
          RELEASE: release,
          SCRIPT:
            'echo orphan-start >> "$LOG"; while [ ! -e "$RELEASE" ]; do sleep 0.02; done; echo orphan-end >> "$LOG"',
        },
      },
    );
    teardown.defer(() => worker.kill("SIGKILL"));
    let workerErr = "";
    worker.stderr?.setEncoding("utf8").on("data", (c: string) => {
      workerErr += c;
    });
    await waitFor(
      () => {
        if (worker.exitCode !== null) throw new Error(`the worker exited early: ${workerErr}`);
        return existsSync(log) && readFileSync(log, "utf8").includes("orphan-start");
      },
      { what: "the worker's command to start" },
    );
    const exited = once(worker, "exit");
    worker.kill("SIGKILL");
    await exited;

    const second = new LocalExecutor({ baseEnv: { PATH }, lockDir, target: "vm1" }).run({
      script: 'echo second-start >> "$LOG"',
      env: { LOG: log },
      deadlineMs: 10_000,
    });
    // The orphan still holds the lock: the second run's flock is queued behind it in the kernel.
    await waitFor(() => hasBlockedWaiter(lockFile), { what: "the second run to wait for the lock" });
    expect(readFileSync(log, "utf8")).toBe("orphan-start\n");

    writeFileSync(release, "");
    expect((await second).exitCode).toBe(0);
    expect(readFileSync(log, "utf8")).toBe("orphan-start\norphan-end\nsecond-start\n");
  });
});

describe("LocalExecutor deadline without its worker", () => {
  it("a command orphaned by a SIGKILLed worker is killed by its supervisor soon after its deadline", async () => {
    const dir = tempDir();
    const log = join(dir, "log");
    const worker: ChildProcess = spawn(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `const { LocalExecutor } = await import(process.env.DRIVERS);
         await new LocalExecutor({ baseEnv: { PATH: process.env.PATH }, killGraceMs: 100 })
           .run({ script: process.env.SCRIPT, env: { LOG: process.env.LOG }, deadlineMs: 1000 });`,
      ],
      {
        stdio: ["ignore", "ignore", "ignore"],
        env: {
          PATH,
          DRIVERS: DIST_INDEX,
          LOG: log,
          SCRIPT: 'echo "$$" > "$LOG"; while :; do sleep 0.05; done',
        },
      },
    );
    teardown.defer(() => worker.kill("SIGKILL"));
    const pid = Number(
      await waitFor(() => existsSync(log) && readFileSync(log, "utf8").trim(), {
        what: "the command to start",
      }),
    );
    teardown.defer(() => {
      try {
        process.kill(-pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    });
    const exited = once(worker, "exit");
    worker.kill("SIGKILL");
    await exited;
    const alive = () => isRunning(pid);
    expect(alive()).toBe(true);
    // deadline 1 s + grace 0.1 s, rounded up, + 1 s: gone within about 3 s of its start
    await waitFor(() => !alive(), {
      timeoutMs: 6_000,
      what: `the orphaned command (pid ${pid}) to be killed`,
    });
  });
});
