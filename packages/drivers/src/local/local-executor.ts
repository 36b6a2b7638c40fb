import { type ChildProcess, spawn } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { resolve as resolvePath } from "node:path";
import { type CommandSpec, EbbError, type ExecResult, type Executor, type OutputStream } from "@ebb/core";
import { type CheckedCommand, checkCommand, checkEnv } from "../shared/command-spec.js";
import { OutputTail } from "../shared/output-tail.js";
import { lockFilePath } from "./lock-file.js";
import { signalGroup } from "./process-group.js";
import { isDirectory, resolveCommand } from "./resolve-command.js";

export interface LocalExecutorOptions {
  /**
   * The environment every command starts from (PATH, HOME, LANG...), overlaid by the command's own env.
   * The caller passes it (see `baseEnvFrom(process.env)`): the executor never reads process.env, so a
   * worker's secrets do not leak into commands by accident. Default: a bare system PATH only.
   */
  baseEnv?: Readonly<Record<string, string>>;
  /** Working directory when the command names none. Default: the worker's. */
  cwd?: string;
  /**
   * Serialise commands per target across processes with `flock(1)` on `<lockDir>/<target>.lock`.
   * Requires `target`.
   */
  lockDir?: string;
  /** The target this executor runs commands for; names its lock file. */
  target?: string;
  /** Between SIGTERM and SIGKILL to the command's process group at the deadline. Default 2000 ms. */
  killGraceMs?: number;
}

export const DEFAULT_BASE_ENV: Readonly<Record<string, string>> = Object.freeze({
  PATH: "/usr/local/bin:/usr/bin:/bin",
});
export const DEFAULT_KILL_GRACE_MS = 2000;
/** The variables `baseEnvFrom` keeps from a worker's environment. */
export const BASE_ENV_NAMES = ["PATH", "HOME", "LANG"] as const;

// A command that started a background process with its output still on our pipe would otherwise keep
// the run open until that process ends; after the command itself exited we read for this long, then stop.
const STDIO_DRAIN_MS = 250;
const FALLBACK_FLOCK = "/usr/bin/flock";
const KILL_SETTLE_MS = 1000;

/** PATH, HOME and LANG from a worker's own environment, for `LocalExecutorOptions.baseEnv`. */
export function baseEnvFrom(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of BASE_ENV_NAMES) {
    const value = env[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/**
 * Runs commands as child processes of the worker, each in its own process group so a deadline can kill
 * the command together with everything it started.
 *
 * A command that cannot start (program not found, missing working directory, lock directory not
 * creatable) is reported as a result with `exitCode: null` and the reason in `outputTail`; `run` only
 * rejects (EbbError `param_invalid`) for a malformed CommandSpec.
 */
export class LocalExecutor implements Executor {
  readonly kind = "local" as const;
  private readonly baseEnv: Readonly<Record<string, string>>;
  private readonly cwd: string | undefined;
  private readonly lockFile: string | undefined;
  private readonly killGraceMs: number;

  constructor(options: LocalExecutorOptions = {}) {
    this.baseEnv = checkEnv(options.baseEnv ?? DEFAULT_BASE_ENV, "baseEnv");
    this.cwd = options.cwd;
    this.killGraceMs = options.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
    if (!Number.isFinite(this.killGraceMs) || this.killGraceMs < 0) {
      throw new EbbError(
        "param_invalid",
        `killGraceMs must be a non-negative number (got ${String(options.killGraceMs)})`,
      );
    }
    if (options.lockDir !== undefined) {
      if (options.target === undefined || options.target === "") {
        throw new EbbError("param_invalid", "target is required with lockDir: it names the lock file");
      }
      // Absolute, so the path can never be read by flock as an option.
      this.lockFile = lockFilePath(resolvePath(options.lockDir), options.target);
    }
  }

  async run(cmd: CommandSpec, onOutput?: (chunk: string, stream: OutputStream) => void): Promise<ExecResult> {
    const startedAt = Date.now();
    const checked = checkCommand(cmd);
    const env = { ...this.baseEnv, ...checked.env };
    const cwd = checked.cwd ?? this.cwd;
    const tail = new OutputTail();
    const notStarted = (reason: string): ExecResult => {
      tail.note(`ebb: ${reason}`);
      return {
        exitCode: null,
        signal: null,
        timedOut: false,
        durationMs: Date.now() - startedAt,
        outputTail: tail.toString(),
      };
    };

    if (cwd !== undefined && !(await isDirectory(cwd))) {
      return notStarted(`working directory ${cwd} does not exist`);
    }
    const program = await this.program(checked, env, cwd);
    if ("missing" in program) return notStarted(program.missing);
    let { file, args, argv0 } = program;
    if (this.lockFile !== undefined) {
      try {
        await mkdir(resolvePath(this.lockFile, ".."), { recursive: true });
      } catch (err) {
        return notStarted(`cannot create lock directory for ${this.lockFile}: ${(err as Error).message}`);
      }
      const flock =
        (await resolveCommand("flock", env, cwd)) ?? (await resolveCommand(FALLBACK_FLOCK, env, cwd));
      if (flock === undefined) return notStarted("flock(1) not found (util-linux); it is needed for lockDir");
      // -o: flock keeps the lock itself and closes it in the command, so a daemon the command starts
      // does not hold the target's lock for ever; flock lives exactly as long as the command.
      args = ["-o", this.lockFile, file, ...args];
      file = flock;
      argv0 = "flock";
    }
    // The worker enforces the deadline; timeout(1) enforces it when the worker is gone (kill -9, a
    // crash): an orphaned command dies a little after its deadline instead of running on unwatched. It
    // comes last in the chain so the lock wait counts, and first in the process group the worker signals.
    const supervisor = await resolveCommand("timeout", env, cwd);
    if (supervisor !== undefined) {
      args = [
        "--kill-after",
        `${Math.ceil(this.killGraceMs / 1000) + 1}s`,
        `${Math.ceil((checked.deadlineMs + this.killGraceMs) / 1000) + 1}s`,
        file,
        ...args,
      ];
      file = supervisor;
    }
    return this.supervise({
      file,
      args,
      argv0,
      env,
      cwd,
      startedAt,
      deadlineMs: checked.deadlineMs,
      tail,
      onOutput,
    });
  }

  private async program(
    checked: CheckedCommand,
    env: Record<string, string>,
    cwd: string | undefined,
  ): Promise<{ file: string; args: string[]; argv0: string } | { missing: string }> {
    if (checked.kind === "script") return { file: "/bin/sh", args: ["-c", checked.script], argv0: "sh" };
    const [name, ...args] = checked.argv;
    const file = await resolveCommand(name, env, cwd);
    if (file === undefined) {
      return { missing: `command not found: ${name} (PATH=${env.PATH ?? ""})` };
    }
    return { file, args, argv0: name };
  }

  private supervise(run: {
    file: string;
    args: string[];
    argv0: string;
    env: Record<string, string>;
    cwd: string | undefined;
    startedAt: number;
    deadlineMs: number;
    tail: OutputTail;
    onOutput: ((chunk: string, stream: OutputStream) => void) | undefined;
  }): Promise<ExecResult> {
    const { tail, startedAt } = run;
    return new Promise((resolve) => {
      let child: ChildProcess;
      try {
        child = spawn(run.file, run.args, {
          argv0: run.argv0,
          cwd: run.cwd,
          env: run.env,
          detached: true,
          shell: false,
          stdio: ["ignore", "pipe", "pipe"],
        });
      } catch (err) {
        tail.note(`ebb: cannot start ${run.argv0}: ${(err as Error).message}`);
        resolve({
          exitCode: null,
          signal: null,
          timedOut: false,
          durationMs: Date.now() - startedAt,
          outputTail: tail.toString(),
        });
        return;
      }
      const pgid = child.pid;
      let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
      let timedOut = false;
      let killed = false;
      let outputClosed = false;
      let settled = false;
      let deadlineTimer: NodeJS.Timeout | undefined;
      let killTimer: NodeJS.Timeout | undefined;
      let drainTimer: NodeJS.Timeout | undefined;

      const settle = (result: ExecResult): void => {
        if (settled) return;
        settled = true;
        clearTimeout(deadlineTimer);
        clearTimeout(drainTimer);
        // Settled after a timeout means the group is gone or was SIGKILLed: nothing left to signal.
        clearTimeout(killTimer);
        resolve(result);
      };
      const maybeFinish = (): void => {
        if (settled || exit === undefined) return;
        // After a timeout, wait for the SIGKILL step while anything of the group lives on, so the caller
        // never sees a finished run with the command's children still running.
        if (timedOut && !killed && pgid !== undefined && signalGroup(pgid, 0)) return;
        if (!outputClosed) {
          drainTimer ??= setTimeout(() => {
            child.stdout?.destroy();
            child.stderr?.destroy();
            outputClosed = true;
            maybeFinish();
          }, STDIO_DRAIN_MS);
          return;
        }
        settle({
          exitCode: exit.code,
          signal: exit.signal,
          timedOut,
          durationMs: Date.now() - startedAt,
          outputTail: tail.toString(),
        });
      };

      const forward = (stream: OutputStream) => (chunk: string) => {
        tail.append(chunk);
        try {
          run.onOutput?.(chunk, stream);
        } catch {
          // A faulty listener must not lose the command's result.
        }
      };
      child.stdout?.setEncoding("utf8").on("data", forward("stdout"));
      child.stderr?.setEncoding("utf8").on("data", forward("stderr"));

      // Only a failed spawn has no pid; a running child reports its end through exit/close.
      child.on("error", (err) => {
        if (pgid !== undefined) return;
        tail.note(`ebb: cannot start ${run.argv0}: ${err.message}`);
        exit = { code: null, signal: null };
        outputClosed = true;
        maybeFinish();
      });
      child.on("exit", (code, signal) => {
        exit = { code, signal };
        maybeFinish();
      });
      child.on("close", () => {
        outputClosed = true;
        maybeFinish();
      });

      if (pgid === undefined) return;
      const remaining = Math.max(0, run.deadlineMs - (Date.now() - startedAt));
      deadlineTimer = setTimeout(() => {
        // The command itself finished in time: whatever it left running (a daemon it started) is intended.
        if (exit !== undefined) return;
        timedOut = true;
        tail.note(`ebb: deadline of ${run.deadlineMs} ms passed; SIGTERM to the process group`);
        signalGroup(pgid, "SIGTERM");
        killTimer = setTimeout(() => {
          if (!signalGroup(pgid, "SIGKILL")) {
            killed = true;
            maybeFinish();
            return;
          }
          tail.note(`ebb: still running after ${this.killGraceMs} ms; SIGKILL`);
          // kill(2) only queues the signal: on a busy machine a member may run on for a few ms. Wait
          // until the group is gone, but not forever: an orphan's zombie keeps the group alive for
          // kill(pgid, 0) until PID 1 reaps it, and in a container PID 1 may never do so.
          const waitUntil = Date.now() + KILL_SETTLE_MS;
          const settleKill = (): void => {
            if (signalGroup(pgid, 0) && Date.now() < waitUntil) {
              killTimer = setTimeout(settleKill, 10);
              return;
            }
            killed = true;
            maybeFinish();
          };
          settleKill();
        }, this.killGraceMs);
      }, remaining);
    });
  }
}
