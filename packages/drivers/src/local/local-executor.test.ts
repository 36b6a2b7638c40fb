import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isEbbError } from "@ebb/core";
import { waitFor } from "@ebb/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { isRunning } from "../../test-support/proc.js";
import { Teardown } from "../../test-support/teardown.js";
import { baseEnvFrom, LocalExecutor } from "./local-executor.js";

const teardown = new Teardown();
afterEach(() => teardown.run());

const PATH = "/usr/local/bin:/usr/bin:/bin";

function tempDir(): string {
  return teardown.add(mkdtempSync(join(tmpdir(), "ebb-local-")), (d) =>
    rmSync(d, { recursive: true, force: true }),
  );
}

describe("LocalExecutor", () => {
  it("runs argv without a shell and reports exit code, output and streamed chunks", async () => {
    const ex = new LocalExecutor({ baseEnv: { PATH } });
    const chunks: [string, string][] = [];
    const result = await ex.run(
      { argv: ["sh", "-c", "echo out; echo err >&2; exit 3"], env: {}, deadlineMs: 5000 },
      (chunk, stream) => chunks.push([stream, chunk]),
    );
    expect(result).toMatchObject({ exitCode: 3, signal: null, timedOut: false });
    expect(result.outputTail).toContain("out\n");
    expect(result.outputTail).toContain("err\n");
    expect(chunks).toContainEqual(["stdout", "out\n"]);
    expect(chunks).toContainEqual(["stderr", "err\n"]);
    expect(result.durationMs).toBeGreaterThanOrEqual(0);

    // argv elements are never re-split or interpreted: a glob and a $ stay what they are.
    const literal = await ex.run({ argv: ["printf", "%s|", "*", "$HOME", "a b"], env: {}, deadlineMs: 5000 });
    expect(literal.outputTail).toBe("*|$HOME|a b|");
  });

  it("passes parameters only as environment: a hostile value is printed verbatim and nothing else runs", async () => {
    const dir = tempDir();
    const canary = join(dir, "pwned");
    const hostile = `1.2.3; touch ${canary}; $(touch ${canary}) \`touch ${canary}\` ' " \\ #`;
    const ex = new LocalExecutor({ baseEnv: { PATH } });

    const script = await ex.run({
      script: 'printf %s "$EBB_VERSION"',
      env: { EBB_VERSION: hostile },
      deadlineMs: 5000,
    });
    expect(script).toMatchObject({ exitCode: 0, outputTail: hostile });

    const argv = await ex.run({ argv: ["printf", "%s", hostile], env: {}, deadlineMs: 5000 });
    expect(argv.outputTail).toBe(hostile);
    expect(existsSync(canary)).toBe(false);
  });

  it("gives the command its base environment plus its own, and nothing of the worker's", async () => {
    process.env.EBB_TEST_WORKER_SECRET = "must-not-leak";
    teardown.defer(() => delete process.env.EBB_TEST_WORKER_SECRET);
    const ex = new LocalExecutor({ baseEnv: { PATH, LANG: "C.UTF-8" } });
    const result = await ex.run({ argv: ["env"], env: { EBB_VERSION: "2.0.0" }, deadlineMs: 5000 });
    expect(result.outputTail.trim().split("\n").sort()).toEqual([
      "EBB_VERSION=2.0.0",
      "LANG=C.UTF-8",
      `PATH=${PATH}`,
    ]);
    expect(baseEnvFrom({ PATH: "/bin", HOME: "/root", SECRET: "x", LANG: undefined })).toEqual({
      PATH: "/bin",
      HOME: "/root",
    });
  });

  it("at the deadline kills the whole process group, a child that ignores SIGTERM included", async () => {
    const dir = tempDir();
    const pidFile = join(dir, "child.pid");
    const ex = new LocalExecutor({ baseEnv: { PATH }, killGraceMs: 300 });
    // The grandchild ignores SIGTERM (ignored dispositions survive exec), so only the group SIGKILL ends it.
    const run = ex.run({
      script: `sh -c 'trap "" TERM; exec sleep 30' & echo $! > "$PID_FILE"; wait`,
      env: { PID_FILE: pidFile },
      deadlineMs: 400,
    });
    const childPid = await waitFor(
      () => (existsSync(pidFile) ? Number(readFileSync(pidFile, "utf8").trim()) || undefined : undefined),
      { what: "the grandchild's pid" },
    );
    teardown.defer(() => {
      if (isRunning(childPid)) process.kill(childPid, "SIGKILL");
    });
    const result = await run;
    expect(result.timedOut).toBe(true);
    expect(result.signal).toBe("SIGTERM");
    expect(result.exitCode).toBeNull();
    expect(result.durationMs).toBeGreaterThanOrEqual(400 + 300);
    expect(result.outputTail).toContain("deadline of 400 ms passed");
    expect(isRunning(childPid)).toBe(false);
  });

  it("a command that finished in time keeps the background process it started", async () => {
    const dir = tempDir();
    const pidFile = join(dir, "daemon.pid");
    const ex = new LocalExecutor({ baseEnv: { PATH }, killGraceMs: 100 });
    // The daemon keeps the command's stdout open, so the run ends only after the output drain (250 ms),
    // past this deadline: the deadline must not count, the command itself was done in time.
    const result = await ex.run({
      script: `sleep 30 & echo $! > "$PID_FILE"; echo started`,
      env: { PID_FILE: pidFile },
      deadlineMs: 100,
    });
    const daemon = Number(readFileSync(pidFile, "utf8").trim());
    teardown.defer(() => {
      if (isRunning(daemon)) process.kill(daemon, "SIGKILL");
    });
    expect(result).toMatchObject({ exitCode: 0, timedOut: false, outputTail: "started\n" });
    expect(result.durationMs).toBeGreaterThan(100);
    expect(isRunning(daemon)).toBe(true);
  });

  it("reports a missing program as a result with exitCode null, with and without the lock", async () => {
    const dir = tempDir();
    for (const ex of [
      new LocalExecutor({ baseEnv: { PATH } }),
      new LocalExecutor({ baseEnv: { PATH }, lockDir: dir, target: "vm1" }),
    ]) {
      const result = await ex.run({ argv: ["ebb-no-such-command", "x"], env: {}, deadlineMs: 5000 });
      expect(result).toMatchObject({ exitCode: null, signal: null, timedOut: false });
      expect(result.outputTail).toContain("ebb: command not found: ebb-no-such-command");
    }
    const noDir = await new LocalExecutor({ baseEnv: { PATH } }).run({
      argv: ["true"],
      env: {},
      cwd: join(dir, "missing"),
      deadlineMs: 5000,
    });
    expect(noDir.exitCode).toBeNull();
    expect(noDir.outputTail).toContain("working directory");
  });

  it("keeps the last 64 lines of the output", async () => {
    const ex = new LocalExecutor({ baseEnv: { PATH } });
    const result = await ex.run({ script: "seq 1 200", env: {}, deadlineMs: 5000 });
    const lines = result.outputTail.trim().split("\n");
    expect(lines).toHaveLength(64);
    expect(lines[0]).toBe("137");
    expect(lines.at(-1)).toBe("200");
  });

  it("runs in the command's cwd, else the executor's", async () => {
    const a = tempDir();
    const b = tempDir();
    const ex = new LocalExecutor({ baseEnv: { PATH }, cwd: a });
    expect((await ex.run({ argv: ["pwd"], env: {}, deadlineMs: 5000 })).outputTail.trim()).toBe(a);
    expect((await ex.run({ argv: ["pwd"], env: {}, cwd: b, deadlineMs: 5000 })).outputTail.trim()).toBe(b);
  });

  it("refuses a malformed command with param_invalid naming the field", async () => {
    const ex = new LocalExecutor({ baseEnv: { PATH } });
    const cases: [Parameters<LocalExecutor["run"]>[0], string][] = [
      [{ argv: [], env: {}, deadlineMs: 1000 }, "argv"],
      [{ script: "true", env: { "BAD-NAME": "x" }, deadlineMs: 1000 }, "env.BAD-NAME"],
      [{ script: "true", env: { OK: "a\0b" }, deadlineMs: 1000 }, "env.OK"],
      [{ script: "true", env: {}, deadlineMs: 0 }, "deadlineMs"],
    ];
    for (const [cmd, field] of cases) {
      const err = await ex.run(cmd).catch((e: unknown) => e);
      expect(isEbbError(err, "param_invalid")).toBe(true);
      expect((err as Error).message).toContain(field);
    }
  });
});
