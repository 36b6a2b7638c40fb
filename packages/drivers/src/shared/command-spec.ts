import { type CommandSpec, EbbError, ENV_NAME } from "@ebb/core";

/** A CommandSpec checked once at the executor's door, in the shape the executors work with. */
export type CheckedCommand =
  | {
      kind: "argv";
      argv: readonly [string, ...string[]];
      env: Record<string, string>;
      deadlineMs: number;
      cwd?: string;
    }
  | { kind: "script"; script: string; env: Record<string, string>; deadlineMs: number; cwd?: string };

/**
 * Validates what an executor is about to run. Variable names follow core's ENV_NAME (letters, digits,
 * underscore, not starting with a digit): such a name is safe unquoted in `env NAME=...` and in a shell.
 * A NUL byte cannot travel in argv, env or over ssh, so it is refused rather than silently truncated.
 */
export function checkCommand(cmd: CommandSpec): CheckedCommand {
  if (!Number.isFinite(cmd.deadlineMs) || cmd.deadlineMs <= 0) {
    throw invalid("deadlineMs", `must be a positive number of milliseconds (got ${String(cmd.deadlineMs)})`);
  }
  const env = checkEnv(cmd.env, "env");
  const base = { env, deadlineMs: cmd.deadlineMs, ...(cmd.cwd !== undefined ? { cwd: cmd.cwd } : {}) };
  if (cmd.cwd !== undefined && (cmd.cwd === "" || cmd.cwd.includes("\0"))) {
    throw invalid("cwd", "must be a non-empty path without NUL bytes");
  }
  if ("argv" in cmd) {
    const [first, ...rest] = cmd.argv;
    if (first === undefined || first === "") throw invalid("argv", "must name a program (argv[0] is empty)");
    cmd.argv.forEach((arg, i) => {
      if (typeof arg !== "string" || arg.includes("\0"))
        throw invalid(`argv[${i}]`, "must be a string without NUL bytes");
    });
    return { kind: "argv", argv: [first, ...rest], ...base };
  }
  if (typeof cmd.script !== "string" || cmd.script.trim() === "")
    throw invalid("script", "must not be empty");
  if (cmd.script.includes("\0")) throw invalid("script", "must not contain NUL bytes");
  return { kind: "script", script: cmd.script, ...base };
}

/** Checks an environment record (a command's, or an executor's base environment). */
export function checkEnv(env: Readonly<Record<string, string>>, field: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (!ENV_NAME.test(name)) throw invalid(`${field}.${name}`, "is not a valid variable name");
    if (typeof value !== "string" || value.includes("\0")) {
      throw invalid(`${field}.${name}`, "must be a string without NUL bytes");
    }
    out[name] = value;
  }
  return out;
}

function invalid(field: string, message: string): EbbError {
  return new EbbError("param_invalid", `command ${field} ${message}`, { details: [{ field, message }] });
}
