import { createConnection, type Socket } from "node:net";
import { EbbError } from "@ebb/core";

export const DEFAULT_COMMAND_TIMEOUT_MS = 3000;

/** Where the Runtime API listens: a unix socket path, or `ipv4@host:port` as in HAProxy's own syntax. */
export type RuntimeAddress = { kind: "unix"; path: string } | { kind: "tcp"; host: string; port: number };

/**
 * Parses a stats socket address as HAProxy writes it: `/run/haproxy/admin.sock`, `unix@/path`, or
 * `ipv4@127.0.0.1:9999` (`tcp@`/bare `host:port` accepted). Errors name the field.
 */
export function parseRuntimeAddress(raw: string, field = "balancerConfig.socket"): RuntimeAddress {
  const value = raw.trim();
  const unix = /^(?:unix@)?(\/.*)$/.exec(value);
  if (unix?.[1]) return { kind: "unix", path: unix[1] };
  const tcp = /^(?:(?:ipv4|tcp)@)?([A-Za-z0-9.-]+):(\d{1,5})$/.exec(value);
  const port = Number(tcp?.[2]);
  if (tcp?.[1] && port >= 1 && port <= 65535) return { kind: "tcp", host: tcp[1], port };
  throw new EbbError(
    "param_invalid",
    `${field}: ${JSON.stringify(raw)} is neither a unix socket path (/run/haproxy/admin.sock) nor ipv4@host:port`,
    { details: [{ field, message: "not a runtime API address" }] },
  );
}

export function formatRuntimeAddress(address: RuntimeAddress): string {
  return address.kind === "unix" ? address.path : `ipv4@${address.host}:${address.port}`;
}

/**
 * HAProxy's Runtime API in its non-interactive mode: one connection per command, HAProxy closes it after
 * the answer (it expects exactly that; an interactive `prompt` session would be a second protocol to get
 * right). Every call has a deadline covering connect, write and the whole answer.
 *
 * Errors are EbbErrors: an absent socket, a refused connection or a timeout are `balancer_unavailable`
 * (retryable: HAProxy may be reloading); an answer naming an unknown backend or server is `not_found`,
 * and "Permission denied" (a `level operator`/`user` socket asked to change state) is `param_invalid`.
 */
export class RuntimeApiClient {
  readonly address: RuntimeAddress;

  constructor(
    address: RuntimeAddress | string,
    readonly timeoutMs = DEFAULT_COMMAND_TIMEOUT_MS,
  ) {
    this.address = typeof address === "string" ? parseRuntimeAddress(address) : address;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      throw new EbbError("param_invalid", `timeoutMs must be a positive number (got ${String(timeoutMs)})`);
    }
  }

  get where(): string {
    return `HAProxy runtime API ${formatRuntimeAddress(this.address)}`;
  }

  /** Sends one command, returns the whole answer; answers that are errors become EbbErrors. */
  async command(line: string): Promise<string> {
    if (/[\r\n;]/.test(line)) {
      // A newline or ';' would make HAProxy run a second command: the caller's names must never do that.
      throw new EbbError("param_invalid", `refusing a runtime API command holding a separator: ${line}`);
    }
    const answer = await this.exchange(line);
    return checkAnswer(answer, line, this.where);
  }

  private exchange(line: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let settled = false;
      const socket: Socket =
        this.address.kind === "unix"
          ? createConnection({ path: this.address.path })
          : createConnection({ host: this.address.host, port: this.address.port });
      const finish = (err: EbbError | undefined, value?: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        if (err) reject(err);
        else resolve(value ?? "");
      };
      const timer = setTimeout(
        () =>
          finish(
            new EbbError(
              "balancer_unavailable",
              `${this.where}: no complete answer to "${verbOf(line)}" within ${this.timeoutMs} ms`,
            ),
          ),
        this.timeoutMs,
      );
      socket.once("connect", () => socket.end(`${line}\n`));
      socket.on("data", (chunk: Buffer) => chunks.push(chunk));
      socket.once("end", () => finish(undefined, Buffer.concat(chunks).toString("utf8")));
      socket.once("close", () => finish(undefined, Buffer.concat(chunks).toString("utf8")));
      socket.once("error", (err: NodeJS.ErrnoException) => finish(this.connectError(err, line)));
    });
  }

  private connectError(err: NodeJS.ErrnoException, line: string): EbbError {
    const reason =
      err.code === "ENOENT"
        ? "the socket does not exist (is HAProxy running, with `stats socket` at this path?)"
        : err.code === "ECONNREFUSED"
          ? "connection refused (HAProxy not running or not listening there)"
          : err.code === "EACCES"
            ? "permission denied on the socket file (check its mode/owner in `stats socket`)"
            : err.message;
    return new EbbError("balancer_unavailable", `${this.where}: ${reason} (command "${verbOf(line)}")`, {
      cause: err,
      details: { address: formatRuntimeAddress(this.address), errno: err.code ?? null },
    });
  }
}

/** The command's words up to the first argument that may name something (for error messages). */
function verbOf(line: string): string {
  return line.split(" ").slice(0, 2).join(" ");
}

/**
 * HAProxy answers errors as plain text with no status code; these are the ones 2.6 prints for the
 * commands this driver sends (src/cli.c, src/server.c, src/stats.c).
 */
function checkAnswer(answer: string, line: string, where: string): string {
  const text = answer.trim();
  if (/^No such (server|backend|proxy)\.?$/im.test(text) || /^Can't find (backend|server)/im.test(text)) {
    throw new EbbError("not_found", `${where}: "${line}" answered: ${text}`, {
      details: { command: line, answer: text },
    });
  }
  if (/^Permission denied/im.test(text)) {
    throw new EbbError(
      "param_invalid",
      `${where}: "${line}" answered "Permission denied": the stats socket needs \`level admin\` to change server state`,
      { details: { command: line, answer: text } },
    );
  }
  if (/^Unknown command/im.test(text) || /^'[^']+' expects /m.test(text)) {
    throw new EbbError("balancer_unavailable", `${where}: "${verbOf(line)}" is not understood: ${text}`, {
      retryable: false,
      details: { command: line, answer: text.slice(0, 200) },
    });
  }
  return answer;
}
