import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { isEbbError } from "@ebb/core";
import { freePort, waitFor } from "@ebb/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isRunning, pidsWithArg } from "../../test-support/proc.js";
import { startSshd, type TestSshd } from "../../test-support/sshd.js";
import { resolveKeyReference } from "./key-reference.js";
import { SshExecutor } from "./ssh-executor.js";

const SSH_HOST = "127.0.6.1";
const PACKAGE_DIR = fileURLToPath(new URL("../..", import.meta.url));
const REPO_DIR = join(PACKAGE_DIR, "../..");
let sshd: TestSshd;
let scratch: string;

beforeAll(async () => {
  sshd = await startSshd(SSH_HOST, await freePort(SSH_HOST));
  scratch = mkdtempSync(join(tmpdir(), "ebb-ssh-"));
});
afterAll(async () => {
  await sshd?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

function executor(overrides: Partial<ConstructorParameters<typeof SshExecutor>[0]> = {}): SshExecutor {
  return new SshExecutor({
    host: sshd.host,
    port: sshd.port,
    username: sshd.username,
    privateKey: sshd.clientKey,
    hostKey: sshd.hostKey,
    connectTimeoutMs: 5000,
    ...overrides,
  });
}

async function errorOf(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => new Error("expected a rejection"),
    (err: unknown) => err,
  );
}

describe("SshExecutor against a real sshd", () => {
  it("runs argv and a script, with exit code, separate streams and the output tail", async () => {
    const ex = executor();
    const chunks: [string, string][] = [];
    const result = await ex.run(
      { script: "echo out; echo err >&2; exit 7", env: {}, deadlineMs: 10_000 },
      (chunk, stream) => chunks.push([stream, chunk]),
    );
    expect(result).toMatchObject({ exitCode: 7, signal: null, timedOut: false });
    expect(result.outputTail).toContain("out\n");
    expect(result.outputTail).toContain("err\n");
    // The pid line the executor sends itself on stderr is not the command's output.
    expect(result.outputTail).not.toContain("ebb-pid");
    expect(chunks).toContainEqual(["stdout", "out\n"]);
    expect(chunks).toContainEqual(["stderr", "err\n"]);

    const argv = await ex.run({ argv: ["printf", "%s|", "a b", "*", "$HOME"], env: {}, deadlineMs: 10_000 });
    expect(argv).toMatchObject({ exitCode: 0, outputTail: "a b|*|$HOME|" });

    const cwd = await ex.run({ argv: ["pwd"], env: {}, cwd: scratch, deadlineMs: 10_000 });
    expect(cwd.outputTail.trim()).toBe(scratch);
  });

  it("passes hostile parameter values verbatim as environment, and nothing else runs", async () => {
    const canary = join(scratch, "pwned");
    const values = {
      EBB_VERSION: `'; touch ${canary} #`,
      EBB_PARAM_NOTE: `$(touch ${canary}) \`touch ${canary}\` "; touch ${canary}; echo "`,
      EBB_PARAM_MULTI: "line1\nline2 ' \" \\ $HOME",
    };
    const result = await executor().run({
      script: 'printf "%s|%s|%s" "$EBB_VERSION" "$EBB_PARAM_NOTE" "$EBB_PARAM_MULTI"',
      env: values,
      deadlineMs: 10_000,
    });
    expect(result.exitCode).toBe(0);
    expect(result.outputTail).toBe(
      `${values.EBB_VERSION}|${values.EBB_PARAM_NOTE}|${values.EBB_PARAM_MULTI}`,
    );

    const argv = await executor().run({
      argv: ["printf", "%s", values.EBB_VERSION],
      env: {},
      deadlineMs: 10_000,
    });
    expect(argv.outputTail).toBe(values.EBB_VERSION);
    expect(existsSync(canary)).toBe(false);
  });

  it("refuses a server whose host key is not the pinned one, before running anything", async () => {
    const canary = join(scratch, "ran-on-unverified-host");
    const err = await errorOf(
      executor({ hostKey: sshd.otherHostKey }).run({ argv: ["touch", canary], env: {}, deadlineMs: 10_000 }),
    );
    expect(isEbbError(err, "executor_unavailable")).toBe(true);
    expect((err as { retryable: boolean }).retryable).toBe(false);
    expect((err as Error).message).toContain(`host key mismatch for ${sshd.host}:${sshd.port}`);
    expect(existsSync(canary)).toBe(false);
    // A known_hosts line with the right key is accepted.
    const knownHosts = `[${sshd.host}]:${sshd.port},lab-vm ${sshd.hostKey}`;
    const ok = await executor({ hostKey: knownHosts }).run({ argv: ["true"], env: {}, deadlineMs: 10_000 });
    expect(ok.exitCode).toBe(0);
  });

  it("at the deadline kills the remote command", async () => {
    // A duration no other process uses, to find the remote sleep in the process table.
    const marker = "29.4713";
    const started = Date.now();
    const run = executor({ killGraceMs: 1000 }).run({ argv: ["sleep", marker], env: {}, deadlineMs: 700 });
    await waitFor(() => pidsWithArg(marker).length === 1, { what: "the remote sleep to start" });
    const result = await run;
    expect(result.timedOut).toBe(true);
    expect(result.exitCode).toBeNull();
    expect(result.signal).toBe("SIGKILL");
    expect(Date.now() - started).toBeLessThan(5000);
    await waitFor(() => pidsWithArg(marker).length === 0, {
      what: "the remote sleep to be gone",
      timeoutMs: 2000,
    });
  });

  it("at the deadline kills what a script started too, not just the script's shell", async () => {
    const [fg, bg] = ["29.4721", "29.4722"];
    const run = executor({ killGraceMs: 1000 }).run({
      script: `sleep ${bg} & sleep ${fg}; wait`,
      env: {},
      deadlineMs: 700,
    });
    await waitFor(() => pidsWithArg(fg).length === 1 && pidsWithArg(bg).length === 1, {
      what: "both sleeps",
    });
    expect((await run).timedOut).toBe(true);
    await waitFor(() => pidsWithArg(fg).length + pidsWithArg(bg).length === 0, {
      what: "both sleeps gone",
      timeoutMs: 2000,
    });
  });

  it("an unreachable server is a retryable executor_unavailable", async () => {
    const port = await freePort(SSH_HOST);
    const err = await errorOf(executor({ port }).run({ argv: ["true"], env: {}, deadlineMs: 10_000 }));
    expect(isEbbError(err, "executor_unavailable")).toBe(true);
    expect((err as { retryable: boolean }).retryable).toBe(true);
    expect((err as Error).message).toContain("ECONNREFUSED");
  });

  it("a key the server does not accept is a terminal authentication error", async () => {
    const other = join(scratch, "unauthorised");
    writeFileSync(other, "");
    rmSync(other);
    const { execFileSync } = await import("node:child_process");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", other]);
    const key = await resolveKeyReference(`file:${other}`);
    const err = await errorOf(
      executor({ privateKey: key }).run({ argv: ["true"], env: {}, deadlineMs: 10_000 }),
    );
    expect(isEbbError(err, "executor_unavailable")).toBe(true);
    expect((err as { retryable: boolean }).retryable).toBe(false);
    expect((err as Error).message).toContain(`authentication as ${sshd.username} failed`);
  });
});

describe("resolveKeyReference", () => {
  it("reads file: and env: references", async () => {
    const fromFile = await resolveKeyReference(`file:${sshd.clientKeyPath}`);
    expect(fromFile.equals(sshd.clientKey)).toBe(true);
    const fromEnv = await resolveKeyReference("env:EBB_TEST_SSH_KEY", {
      env: { EBB_TEST_SSH_KEY: sshd.clientKey.toString("utf8") },
    });
    expect(fromEnv.equals(sshd.clientKey)).toBe(true);
    // The resolved key works.
    const ok = await executor({ privateKey: fromEnv }).run({ argv: ["true"], env: {}, deadlineMs: 10_000 });
    expect(ok.exitCode).toBe(0);
  });

  it("errors name the reference and never the key", async () => {
    const secret = sshd.clientKey.toString("utf8");
    const cases: [string, Parameters<typeof resolveKeyReference>[1], string][] = [
      [
        "file:/nonexistent/ebb/key",
        {},
        'key reference "file:/nonexistent/ebb/key": cannot read /nonexistent/ebb/key (ENOENT)',
      ],
      ["file:relative/key", {}, 'key reference "file:relative/key": a file reference needs an absolute path'],
      ["env:EBB_MISSING_KEY", { env: {} }, 'key reference "env:EBB_MISSING_KEY": EBB_MISSING_KEY is not set'],
      ["env:EBB_KEY", undefined, 'key reference "env:EBB_KEY": no environment was given'],
      ["vault:secret/ssh", {}, 'key reference "vault:secret/ssh": unsupported source'],
      [
        "env:NOT_A_KEY",
        { env: { NOT_A_KEY: `${secret.slice(0, 40)}garbage` } },
        'key reference "env:NOT_A_KEY": does not hold',
      ],
    ];
    for (const [ref, sources, message] of cases) {
      const err = await errorOf(resolveKeyReference(ref, sources));
      expect(isEbbError(err, "param_invalid")).toBe(true);
      expect((err as Error).message).toContain(message);
      expect(
        JSON.stringify({ m: (err as Error).message, d: (err as { details: unknown }).details }),
      ).not.toContain(secret.slice(40, 80));
    }
  });
});

describe("SshExecutor supervision on the host", () => {
  // 1.5 s of work between two lines: two unserialised runs started together overlap even when a busy machine
  // sets up their SSH sessions far apart (with 300 ms they once did not, and the control failed).
  const TIMED = 'echo "start $ID" >> "$LOG"; sleep 1.5; echo "end $ID" >> "$LOG"';

  it("one command at a time per target: two workers' commands never overlap; without supervision they do", async () => {
    const run = async (supervise: boolean, log: string) => {
      const opts = supervise ? { supervise: { lockName: "vm-ssh-lock" } } : {};
      const results = await Promise.all(
        ["a", "b"].map((id) =>
          executor(opts).run({ script: TIMED, env: { ID: id, LOG: log }, deadlineMs: 10_000 }),
        ),
      );
      expect(results.map((r) => r.exitCode)).toEqual([0, 0]);
      return readFileSync(log, "utf8").trim().split("\n");
    };
    const bare = await run(false, join(scratch, "bare.log"));
    expect(bare.slice(0, 2).every((l) => l.startsWith("start"))).toBe(true);
    const locked = await run(true, join(scratch, "locked.log"));
    expect(locked.map((l) => l.split(" ")[0])).toEqual(["start", "end", "start", "end"]);
  });

  it("a command whose worker was killed is killed by timeout(1) on the host soon after its deadline", async () => {
    const pidFile = join(scratch, "orphan.pid");
    execFileSync(join(REPO_DIR, "node_modules/.bin/tsc"), ["-b", PACKAGE_DIR], {
      cwd: REPO_DIR,
      stdio: "inherit",
    });
    // A worker in its own process, killed with SIGKILL once the command runs: nobody is left to enforce the
    // deadline but the host.
    const worker = spawn(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `const { SshExecutor } = await import(process.env.DRIVERS);
         const o = JSON.parse(process.env.OPTS);
         await new SshExecutor({ ...o, supervise: { lockName: "vm-ssh-orphan" }, killGraceMs: 100 })
           .run({ script: process.env.SCRIPT, env: { PIDFILE: process.env.PIDFILE }, deadlineMs: 1000 });`,
      ],
      {
        stdio: ["ignore", "ignore", "ignore"],
        env: {
          PATH: process.env.PATH ?? "",
          DRIVERS: join(PACKAGE_DIR, "dist/index.js"),
          OPTS: JSON.stringify({
            host: sshd.host,
            port: sshd.port,
            username: sshd.username,
            privateKey: sshd.clientKey.toString(),
            hostKey: sshd.hostKey,
          }),
          PIDFILE: pidFile,
          SCRIPT: 'echo "$$" > "$PIDFILE"; while :; do sleep 0.05; done',
        },
      },
    );
    const pid = Number(
      await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, "utf8").trim(), {
        timeoutMs: 15_000,
        what: "the remote command to start",
      }),
    );
    const alive = () => isRunning(pid);
    try {
      const exited = once(worker, "exit");
      worker.kill("SIGKILL");
      await exited;
      expect(alive()).toBe(true);
      // deadline 1 s + grace 0.1 s, rounded up, + 1 s
      await waitFor(() => !alive(), {
        timeoutMs: 8_000,
        what: `the orphaned remote command (pid ${pid}) to be killed`,
      });
    } finally {
      if (alive()) process.kill(pid, "SIGKILL");
    }
  });
});
