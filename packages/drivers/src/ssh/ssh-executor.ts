import { StringDecoder } from "node:string_decoder";
import { type CommandSpec, EbbError, type ExecResult, type Executor, type OutputStream } from "@ebb/core";
import type { ClientChannel, ConnectConfig, Client as SshClient } from "ssh2";
import { checkCommand } from "../shared/command-spec.js";
import { OutputTail } from "../shared/output-tail.js";
import { fingerprint, type PinnedHostKey, parseHostKey } from "./host-key.js";
import { PidSentinel } from "./pid-sentinel.js";
import { killGroupCommand, remoteCommandLine } from "./remote-command.js";
import { Client, utils } from "./ssh2.js";

export interface SshExecutorOptions {
  host: string;
  /** Default 22. */
  port?: number;
  username: string;
  /** The private key itself, resolved by the caller from a key reference (resolveKeyReference). */
  privateKey: Buffer | string;
  /** The server's public host key (`ssh-ed25519 AAAA...`) or a known_hosts line. Required: no TOFU. */
  hostKey: string;
  /** TCP connect + handshake + authentication. Default 10 000 ms. */
  connectTimeoutMs?: number;
  /** After the deadline's KILL, how long to wait for the server to report the exit before closing. Default 2000 ms. */
  killGraceMs?: number;
  /**
   * Run each command under flock(1) on this target's lock and timeout(1) on the host (see
   * RemoteSupervision); needs both there (util-linux, coreutils). Omit to run commands bare.
   */
  supervise?: { lockName: string };
}

type HostKeyAlgorithms = NonNullable<ConnectConfig["algorithms"]>["serverHostKey"];

export const DEFAULT_SSH_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_KILL_GRACE_MS = 2000;

/**
 * Runs commands on one host over ssh, one connection per command (simple, and a broken connection never
 * poisons the next run). The host key is pinned: a server presenting another key is refused before any
 * authentication is attempted.
 *
 * Failures before the command started (unreachable, host key mismatch, authentication) reject with
 * EbbError `executor_unavailable`: retryable for network trouble, not for a wrong key. Once the command
 * started, the outcome is a result; a connection lost mid-command gives `exitCode: null` with the reason
 * in `outputTail`, since whether the command finished is unknown and running it again may not be safe.
 */
export class SshExecutor implements Executor {
  readonly kind = "ssh" as const;
  private readonly host: string;
  private readonly port: number;
  private readonly username: string;
  private readonly privateKey: Buffer | string;
  private readonly pinned: PinnedHostKey;
  private readonly connectTimeoutMs: number;
  private readonly killGraceMs: number;
  private readonly supervise: { lockName: string } | undefined;

  constructor(options: SshExecutorOptions) {
    if (!options.host) throw invalid("host", "must not be empty");
    if (!options.username) throw invalid("username", "must not be empty");
    const port = options.port ?? 22;
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      throw invalid("port", "must be an integer 1-65535");
    const key = utils.parseKey(options.privateKey);
    // Never quote the key or parseKey's message about it.
    if (key instanceof Error || !key.isPrivateKey()) {
      throw invalid("privateKey", "is not an unencrypted private key ssh2 can use");
    }
    this.host = options.host;
    this.port = port;
    this.username = options.username;
    this.privateKey = options.privateKey;
    this.pinned = parseHostKey(options.hostKey);
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_SSH_CONNECT_TIMEOUT_MS;
    this.killGraceMs = options.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
    this.supervise = options.supervise;
  }

  /** `host:port`, as messages name the server. */
  get address(): string {
    return `${this.host}:${this.port}`;
  }

  async run(cmd: CommandSpec, onOutput?: (chunk: string, stream: OutputStream) => void): Promise<ExecResult> {
    const startedAt = Date.now();
    const checked = checkCommand(cmd);
    const line = remoteCommandLine(
      checked,
      this.supervise && { ...this.supervise, deadlineMs: checked.deadlineMs, killGraceMs: this.killGraceMs },
    );
    const tail = new OutputTail();
    const client = new Client();
    let offeredKey: Buffer | undefined;
    let deadlineTimer: NodeJS.Timeout | undefined;
    let graceTimer: NodeJS.Timeout | undefined;

    try {
      return await new Promise<ExecResult>((resolve, reject) => {
        let channel: ClientChannel | undefined;
        let exit: { code: number | null; signal: string | null } | undefined;
        const sentinel = new PidSentinel();
        let timedOut = false;
        let killedGroup = false;
        let settled = false;
        const result = (): ExecResult => ({
          exitCode: exit?.code ?? null,
          signal: exit?.signal ?? null,
          timedOut,
          durationMs: Date.now() - startedAt,
          outputTail: tail.toString(),
        });
        const finish = (r: ExecResult | EbbError): void => {
          if (settled) return;
          settled = true;
          if (r instanceof EbbError) reject(r);
          else resolve(r);
        };

        /** The deadline passed and the pid line was read (or ruled out): kill the group, then wait for the exit. */
        const killOnceKnown = (): void => {
          if (killedGroup || (sentinel.pid === undefined && !sentinel.done)) return;
          killedGroup = true;
          const awaitExit = (): void => {
            clearTimeout(graceTimer);
            graceTimer = setTimeout(() => {
              tail.note(`ebb: no exit reported within ${this.killGraceMs} ms; closing the session`);
              finish(result());
            }, this.killGraceMs);
          };
          if (sentinel.pid === undefined) {
            awaitExit();
            return;
          }
          // Bounded meanwhile like the wait for the pid: a kill channel that never runs must not hang us.
          clearTimeout(graceTimer);
          graceTimer = setTimeout(awaitExit, this.connectTimeoutMs);
          this.killGroup(client, sentinel.pid, awaitExit);
        };

        deadlineTimer = setTimeout(() => {
          timedOut = true;
          if (!channel) {
            tail.note(
              `ebb: deadline of ${checked.deadlineMs} ms passed before the command started on ${this.address}`,
            );
            finish(result());
            return;
          }
          tail.note(`ebb: deadline of ${checked.deadlineMs} ms passed; killing the remote command`);
          // Honoured only for non-root logins (see killGroupCommand); the group kill below covers root.
          channel.signal("KILL");
          if (sentinel.pid !== undefined || sentinel.done) {
            // With no pid (a login shell that is not POSIX), the signal request is all there is.
            killOnceKnown();
            return;
          }
          // The login shell has not announced the pid yet: its startup files (a root .bashrc running
          // `pyenv init`, say) can take seconds, and the command starts right after. Closing now would
          // leave it running unattended, so wait for the pid (bounded like the connection, since the
          // shell's startup is part of getting the command started) and kill the group then.
          graceTimer = setTimeout(() => {
            tail.note(
              `ebb: the remote shell announced no pid within ${this.connectTimeoutMs} ms of the deadline; ` +
                "closing the session, the command may still run",
            );
            finish(result());
          }, this.connectTimeoutMs);
        }, checked.deadlineMs);

        client.on("ready", () => {
          client.exec(line, (err, stream) => {
            if (err) {
              finish(unavailable(`${this.address} refused to run the command: ${err.message}`, err, true));
              return;
            }
            channel = stream;
            const decoders = { stdout: new StringDecoder("utf8"), stderr: new StringDecoder("utf8") };
            const forward = (name: OutputStream, data: Buffer): void => {
              const chunk = decoders[name].write(data);
              if (chunk === "") return;
              tail.append(chunk);
              try {
                onOutput?.(chunk, name);
              } catch {
                // A faulty listener must not lose the command's result.
              }
            };
            stream.on("data", (data: Buffer) => forward("stdout", data));
            stream.stderr.on("data", (data: Buffer) => {
              forward("stderr", sentinel.filter(data));
              // The pid may arrive after the deadline (slow shell startup): kill as soon as it is known.
              if (timedOut) killOnceKnown();
            });
            stream.on("exit", (code: number | null, signal?: string) => {
              exit = { code: typeof code === "number" ? code : null, signal: signalName(signal) };
            });
            stream.on("close", () => {
              if (exit === undefined && !timedOut) {
                tail.note(`ebb: the session on ${this.address} closed without an exit status`);
              }
              finish(result());
            });
          });
        });
        client.on("error", (err: Error & { level?: string }) => {
          if (channel) {
            tail.note(`ebb: connection to ${this.address} lost while the command ran: ${err.message}`);
            finish(result());
            return;
          }
          finish(this.connectError(err, offeredKey));
        });
        client.on("close", () => {
          if (channel) {
            if (!settled) tail.note(`ebb: connection to ${this.address} closed while the command ran`);
            finish(result());
          } else {
            finish(
              unavailable(`connection to ${this.address} closed before the command started`, undefined, true),
            );
          }
        });

        client.connect({
          host: this.host,
          port: this.port,
          username: this.username,
          privateKey: this.privateKey,
          readyTimeout: this.connectTimeoutMs,
          // Only the pinned key's algorithm: a server with several host keys must show the pinned one.
          algorithms: { serverHostKey: this.pinned.algorithms as HostKeyAlgorithms },
          hostVerifier: (key: Buffer) => {
            offeredKey = key;
            return key.equals(this.pinned.blob);
          },
          // The given key only: no agent, no keyboard-interactive prompts.
          tryKeyboard: false,
        });
      });
    } finally {
      clearTimeout(deadlineTimer);
      clearTimeout(graceTimer);
      client.end();
      client.destroy();
    }
  }

  /**
   * A second channel on the same connection: sshd may ignore the signal request (see killGroupCommand).
   * `done` runs when the kill command has run (or could not start): that channel's login shell has the
   * same slow startup files as the command's, so the grace for the exit counts from then, not from asking.
   */
  private killGroup(client: SshClient, pid: number, done: () => void): void {
    client.exec(killGroupCommand(pid), (err, stream) => {
      if (err) {
        done();
        return;
      }
      stream.on("data", () => {});
      stream.stderr.resume();
      stream.on("close", done);
    });
  }

  private connectError(err: Error & { level?: string }, offeredKey: Buffer | undefined): EbbError {
    if (offeredKey !== undefined && !offeredKey.equals(this.pinned.blob)) {
      return unavailable(
        `host key mismatch for ${this.address}: expected ${this.pinned.type} ${fingerprint(this.pinned.blob)}, ` +
          `the server offered ${fingerprint(offeredKey)}; refusing to connect`,
        err,
        false,
      );
    }
    if (err.level === "client-authentication") {
      return unavailable(
        `authentication as ${this.username} failed on ${this.address}: ${err.message}`,
        err,
        false,
      );
    }
    if (offeredKey === undefined && err.level === "handshake") {
      return unavailable(
        `${this.address} offers no ${this.pinned.type} host key (the pinned key's type): ${err.message}`,
        err,
        false,
      );
    }
    const code = (err as NodeJS.ErrnoException).code;
    return unavailable(`cannot reach ${this.address}: ${code ? `${code} ` : ""}${err.message}`, err, true);
  }
}

/** ssh names signals without the prefix (`KILL`, RFC 4254); ssh2 may add it. Results use Node's `SIGKILL`. */
function signalName(signal: string | undefined): string | null {
  if (!signal) return null;
  return signal.startsWith("SIG") ? signal : `SIG${signal}`;
}

function unavailable(message: string, cause: unknown, retryable: boolean): EbbError {
  return new EbbError("executor_unavailable", message, {
    retryable,
    ...(cause === undefined ? {} : { cause }),
  });
}

function invalid(field: string, message: string): EbbError {
  return new EbbError("param_invalid", `ssh ${field} ${message}`, { details: [{ field, message }] });
}
