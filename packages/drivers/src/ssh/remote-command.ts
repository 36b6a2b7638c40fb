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
export function remoteCommandLine(cmd: CheckedCommand): string {
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
  const run = ["exec", "env", "--", ...assignments, ...program].join(" ");
  const announce = `printf '\\036ebb-pid %s\\n' "$$" >&2`;
  return cmd.cwd === undefined
    ? `${announce}; ${run}`
    : `${announce}; cd -- ${shellQuote(cmd.cwd)} && ${run}`;
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
