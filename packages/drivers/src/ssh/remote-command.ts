import { EbbError } from "@ebb/core";
import type { CheckedCommand } from "../shared/command-spec.js";

/** POSIX single-quoting: the only character a single-quoted word cannot hold is `'` itself. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * The first line the remote side writes to stderr: the session's pid. sshd makes every session's process
 * a process-group (and session) leader, so this pid names the group of everything the command starts;
 * the deadline kills that group over a second channel (see killGroupCommand).
 */
export const PID_SENTINEL = "\u001eebb-pid ";

/**
 * The command line sshd hands to the remote login shell (`$SHELL -c <line>`, assumed POSIX). Parameters
 * travel as `env NAME='value'` assignments because sshd refuses the protocol's `env` request unless its
 * AcceptEnv lists the name. Every word except the validated variable names is quoted, so nothing a
 * parameter holds is ever parsed by the shell. `exec` makes the program the session's own process, so the
 * deadline's signal reaches the program itself, not a shell waiting for it.
 */
/**
 * On the host, what holds a command to the rules when its worker is gone: `flock(1)` on a per-target lock
 * in `$HOME/.ebb/locks` (one command at a time per target, as local targets get, whichever worker or Ebb
 * runs it) and `timeout(1)` a little after the deadline (an orphan of a killed worker, or of a dropped
 * connection, does not run on unwatched; sshd sends no hang-up to a session without a terminal).
 */
export interface RemoteSupervision {
  /** The target's name: it names the lock file. */
  lockName: string;
  deadlineMs: number;
  killGraceMs: number;
}

export function remoteCommandLine(cmd: CheckedCommand, supervision?: RemoteSupervision): string {
  const assignments = Object.entries(cmd.env).map(([name, value]) => `${name}=${shellQuote(value)}`);
  let program: string[];
  if (cmd.kind === "argv") {
    // env would read a first word with "=" as one more assignment, not as the program.
    if (cmd.argv[0].includes("=")) {
      throw new EbbError(
        "param_invalid",
        'command argv[0] must not contain "=" (env would take it for a variable)',
        {
          details: [{ field: "argv[0]", message: 'must not contain "="' }],
        },
      );
    }
    program = cmd.argv.map(shellQuote);
  } else {
    program = ["/bin/sh", "-c", shellQuote(cmd.script)];
  }
  const command = ["env", "--", ...assignments, ...program];
  let run = ["exec", ...command].join(" ");
  let prepare = "";
  if (supervision !== undefined) {
    // As the local lock files are named: a target name cannot reach outside the lock directory.
    const file = `${encodeURIComponent(supervision.lockName)}.lock`;
    if (supervision.lockName === "" || file.startsWith(".")) {
      throw new EbbError(
        "param_invalid",
        `target name ${JSON.stringify(supervision.lockName)} cannot name a lock`,
      );
    }
    const locks = '"$HOME"/.ebb/locks';
    const after = (ms: number) => `${Math.ceil(ms / 1000) + 1}s`;
    prepare = `mkdir -p ${locks} && `;
    run = [
      "exec timeout --kill-after",
      after(supervision.killGraceMs),
      after(supervision.deadlineMs + supervision.killGraceMs),
      `flock -o ${locks}/${shellQuote(file)}`,
      ...command,
    ].join(" ");
  }
  const announce = `printf '\\036ebb-pid %s\\n' "$$" >&2`;
  return cmd.cwd === undefined
    ? `${announce}; ${prepare}${run}`
    : `${announce}; cd -- ${shellQuote(cmd.cwd)} && ${prepare}${run}`;
}

/**
 * Kills a session's process group. sshd only honours the protocol's signal request for sessions it ran
 * with privilege separation, i.e. never for root logins, and even then the signal reaches the session's
 * process alone; this reaches its children too.
 */
export function killGroupCommand(pid: number): string {
  if (!Number.isInteger(pid) || pid <= 1) throw new Error(`refusing to kill process group ${pid}`);
  return `kill -KILL -- -${pid} 2>/dev/null || kill -KILL ${pid} 2>/dev/null; true`;
}
