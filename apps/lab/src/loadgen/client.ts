import { Agent, type ClientRequestArgs, type IncomingMessage, request } from "node:http";
import type { Duplex } from "node:stream";
import { awakeNow } from "./awake.js";
import {
  classifyError,
  classifyStatus,
  describeError,
  type ErrorPhase,
  RequestTimeoutError,
} from "./classify.js";
import type { RequestOutcome } from "./types.js";

// Enough for the lab VM's `GET /` JSON; a bigger body is still read to the end, just not parsed.
const MAX_PARSED_BODY = 64 * 1024;

/** A keep-alive agent that reports every connection it opens (connect attempts included). */
class CountingAgent extends Agent {
  constructor(private readonly onConnection: () => void) {
    // maxSockets 1: one persistent connection per client, like a browser tab or a service's HTTP client.
    super({ keepAlive: true, maxSockets: 1, maxFreeSockets: 1 });
  }

  override createConnection(
    options: ClientRequestArgs,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    this.onConnection();
    return super.createConnection(options, callback);
  }
}

export interface LoadClientOptions {
  host: string;
  port: number;
  path: string;
  timeoutMs: number;
  onConnection: () => void;
}

/** One client: requests in sequence on its own keep-alive connection, never retried. */
export class LoadClient {
  private readonly agent: CountingAgent;

  constructor(private readonly opts: LoadClientOptions) {
    this.agent = new CountingAgent(opts.onConnection);
  }

  /** Issues one GET; `done` is called exactly once with how it ended. */
  send(done: (outcome: RequestOutcome) => void): void {
    const started = process.hrtime.bigint();
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const settle = (outcome: Omit<RequestOutcome, "latencyNs">): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      done({ ...outcome, latencyNs: process.hrtime.bigint() - started });
    };
    const fail = (err: unknown, phase: ErrorPhase): void => {
      settle({ error: { kind: classifyError(err, phase), message: describeError(err) }, response: null });
    };

    const req = request({
      host: this.opts.host,
      port: this.opts.port,
      path: this.opts.path,
      method: "GET",
      agent: this.agent,
      headers: { accept: "application/json" },
    });
    // The deadline covers connect, headers and body, in the time this process could run (awake.ts): a stall
    // of the process pushes it back by as long. Destroying the request frees the connection so the next
    // request starts on a fresh one instead of queueing behind a hung response.
    const awakeStart = awakeNow();
    const onDeadline = (): void => {
      const left = this.opts.timeoutMs - (awakeNow() - awakeStart);
      if (left >= 1) {
        timer = setTimeout(onDeadline, left);
        return;
      }
      const err = new RequestTimeoutError(this.opts.timeoutMs);
      fail(err, "request");
      req.destroy(err);
    };
    timer = setTimeout(onDeadline, this.opts.timeoutMs);

    req.on("error", (err) => fail(err, "request"));
    req.on("response", (res) => readResponse(res, settle, fail));
    req.end();
  }

  /** Closes the idle keep-alive connection. */
  close(): void {
    this.agent.destroy();
  }
}

function readResponse(
  res: IncomingMessage,
  settle: (outcome: Omit<RequestOutcome, "latencyNs">) => void,
  fail: (err: unknown, phase: ErrorPhase) => void,
): void {
  const chunks: Buffer[] = [];
  let size = 0;
  res.on("data", (chunk: Buffer) => {
    if (size < MAX_PARSED_BODY) chunks.push(chunk);
    size += chunk.length;
  });
  res.on("error", (err) => fail(err, "response"));
  res.on("end", () => {
    const status = res.statusCode ?? 0;
    const body = size <= MAX_PARSED_BODY ? Buffer.concat(chunks) : null;
    const response = { status, ...identify(body) };
    const kind = classifyStatus(status);
    settle({ error: kind ? { kind, message: `HTTP ${status}` } : null, response });
  });
}

/** `host` and `version` from the lab VM's JSON answer; "unknown" when the body is not that. */
export function identify(body: Buffer | null): { host: string; version: string } {
  let host = "unknown";
  let version = "unknown";
  // Cheap check first: at saturation most bodies are the same small JSON, anything else is skipped.
  if (body && body.length > 0 && body[0] === 0x7b /* { */) {
    try {
      const parsed: unknown = JSON.parse(body.toString("utf8"));
      if (typeof parsed === "object" && parsed !== null) {
        const rec = parsed as Record<string, unknown>;
        if (typeof rec.host === "string" || typeof rec.host === "number") host = String(rec.host);
        if (typeof rec.version === "string" || typeof rec.version === "number") version = String(rec.version);
      }
    } catch {
      // Not JSON: the response still counts, under "unknown".
    }
  }
  return { host, version };
}
