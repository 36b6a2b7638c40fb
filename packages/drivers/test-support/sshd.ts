import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { waitFor } from "@ebb/testkit";

export const SSHD_PATH = "/usr/sbin/sshd";

/** A real OpenSSH server on loopback for the current user, with throwaway keys. */
export interface TestSshd {
  host: string;
  port: number;
  username: string;
  dir: string;
  /** The server's public host key line (`ssh-ed25519 AAAA... comment`). */
  hostKey: string;
  /** A valid ed25519 key that is NOT the server's. */
  otherHostKey: string;
  /** The authorised client key, and its file. */
  clientKey: Buffer;
  clientKeyPath: string;
  /** What sshd wrote to stderr (-e). */
  log(): string;
  stop(): Promise<void>;
}

function keygen(path: string): void {
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "ebb-test", "-f", path]);
}

export async function startSshd(host: string, port: number): Promise<TestSshd> {
  const dir = mkdtempSync(join(tmpdir(), "ebb-sshd-"));
  const username = userInfo().username;
  for (const name of ["host_key", "other_host_key", "client_key"]) keygen(join(dir, name));
  writeFileSync(join(dir, "authorized_keys"), readFileSync(join(dir, "client_key.pub")));
  const config = join(dir, "sshd_config");
  writeFileSync(
    config,
    [
      `ListenAddress ${host}`,
      `Port ${port}`,
      `HostKey ${join(dir, "host_key")}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      "PubkeyAuthentication yes",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "StrictModes no",
      "UsePAM no",
      `PidFile ${join(dir, "sshd.pid")}`,
      "PermitRootLogin prohibit-password",
      "LogLevel VERBOSE",
      "",
    ].join("\n"),
  );
  // sshd refuses to start without its privilege separation directory (created by the service unit normally).
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const child: ChildProcess = spawn(SSHD_PATH, ["-D", "-e", "-f", config], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (c: string) => {
    stderr += c;
  });
  const exited = once(child, "exit");
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await untilAccepting(host, port, child, () => stderr);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    host,
    port,
    username,
    dir,
    hostKey: readFileSync(join(dir, "host_key.pub"), "utf8").trim(),
    otherHostKey: readFileSync(join(dir, "other_host_key.pub"), "utf8").trim(),
    clientKey: readFileSync(join(dir, "client_key")),
    clientKeyPath: join(dir, "client_key"),
    log: () => stderr,
    stop,
  };
}

async function untilAccepting(
  host: string,
  port: number,
  child: ChildProcess,
  log: () => string,
): Promise<void> {
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`sshd exited with ${child.exitCode}: ${log()}`);
      return new Promise<boolean>((resolve) => {
        const s = connect(port, host, () => {
          s.destroy();
          resolve(true);
        });
        s.on("error", () => resolve(false));
      });
    },
    { what: `sshd listening on ${host}:${port}` },
  );
}
