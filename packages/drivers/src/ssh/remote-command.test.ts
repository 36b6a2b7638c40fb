import { execFileSync } from "node:child_process";
import { isEbbError } from "@ebb/core";
import { describe, expect, it } from "vitest";
import { checkCommand } from "../shared/command-spec.js";
import { PidSentinel } from "./pid-sentinel.js";
import { killGroupCommand, remoteCommandLine, shellQuote } from "./remote-command.js";

/** What a POSIX login shell prints on stdout for the line (`$SHELL -c <line>`, as sshd runs it). */
function runLine(line: string): string {
  return execFileSync("/bin/sh", ["-c", line], {
    env: { PATH: "/usr/bin:/bin" },
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
  });
}

describe("remote command line", () => {
  it("quotes every word so the shell hands it over unchanged", () => {
    const hostile = ["'", "''", "a'b", "$(id)", "`id`", "; rm -rf / #", "\\", "\n", "*", "~", "-n", ""];
    for (const value of hostile) {
      expect(execFileSync("/bin/sh", ["-c", `printf %s ${shellQuote(value)}`], { encoding: "utf8" })).toBe(
        value,
      );
    }
  });

  it("carries parameters as env assignments and runs argv or a script through exec env", () => {
    const value = `'; echo INJECTED #\n$(echo INJECTED)`;
    const argv = remoteCommandLine(
      checkCommand({ argv: ["printf", "%s|%s", value], env: { EBB_VERSION: value }, deadlineMs: 1 }),
    );
    expect(argv).toContain("exec env -- EBB_VERSION=");
    expect(runLine(argv)).toBe(`${value}|`);
    const script = remoteCommandLine(
      checkCommand({ script: 'printf %s "$EBB_VERSION"', env: { EBB_VERSION: value }, deadlineMs: 1 }),
    );
    expect(runLine(script)).toBe(value);
  });

  it("changes to the command's directory first, quoted", () => {
    const line = remoteCommandLine(checkCommand({ argv: ["pwd"], env: {}, cwd: "/", deadlineMs: 1 }));
    expect(runLine(line)).toBe("/\n");
  });

  it("refuses a program name env would take for an assignment", () => {
    let err: unknown;
    try {
      remoteCommandLine(checkCommand({ argv: ["A=b", "x"], env: {}, deadlineMs: 1 }));
    } catch (e) {
      err = e;
    }
    expect(isEbbError(err, "param_invalid")).toBe(true);
    expect((err as Error).message).toContain("argv[0]");
  });

  it("announces the session pid first on stderr; the sentinel filter takes it out, even split", () => {
    const line = remoteCommandLine(checkCommand({ script: "echo err >&2", env: {}, deadlineMs: 1 }));
    const stderr = execFileSync("/bin/sh", ["-c", `(${line}) 2>&1 >/dev/null`], { encoding: "buffer" });
    const sentinel = new PidSentinel();
    const pieces = [stderr.subarray(0, 3), stderr.subarray(3, 9), stderr.subarray(9)];
    const kept = Buffer.concat(pieces.map((p) => sentinel.filter(p))).toString("utf8");
    expect(kept).toBe("err\n");
    expect(sentinel.pid).toBeGreaterThan(1);

    const plain = new PidSentinel();
    expect(plain.filter(Buffer.from("sh: not POSIX\nmore")).toString()).toBe("sh: not POSIX\nmore");
    expect(plain.pid).toBeUndefined();
  });

  it("kills a group only for a real pid", () => {
    expect(killGroupCommand(1234)).toContain("-- -1234");
    expect(() => killGroupCommand(1)).toThrow();
    expect(() => killGroupCommand(0)).toThrow();
  });
});
