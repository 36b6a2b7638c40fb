import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { exchange } from "./exchange.js";
import { endToEndHeaders, flatten } from "./headers.js";
import { serializeRequest } from "./request-writer.js";
import { UpstreamPool } from "./upstream-pool.js";

export interface FrontProxyOptions {
  listen: { host: string; port: number };
  upstream: { host: string; port: number };
  /** How long the proxy keeps an idle upstream connection for reuse. */
  idleTimeoutMs: number;
  /** Deadline for the upstream's response, default 30000; past it the client gets 504. */
  upstreamTimeoutMs?: number;
}

export interface FrontProxyStats {
  /** Client requests received. */
  requests: number;
  /** Upstream connections that failed (RST, EPIPE, EOF) before a complete response. */
  upstreamResets: number;
  responses502: number;
  /** Requests sent on a pooled (previously used) upstream connection. */
  poolReuses: number;
  /** Idle upstream connections in the pool now. */
  poolSize: number;
}

/**
 * An L7 reverse proxy with an upstream connection pool that is blind while idle, to reproduce the
 * "upstream keep-alive shorter than the proxy's idle timeout" 502s (domain.md section 2).
 */
export class FrontProxy {
  private readonly counters = { requests: 0, upstreamResets: 0, responses502: 0, poolReuses: 0 };
  private readonly pool: UpstreamPool;
  private readonly upstreamTimeoutMs: number;
  private stopped = false;

  private constructor(
    private readonly server: Server,
    opts: FrontProxyOptions,
  ) {
    this.pool = new UpstreamPool(opts.upstream, opts.idleTimeoutMs);
    this.upstreamTimeoutMs = opts.upstreamTimeoutMs ?? 30_000;
    server.on("request", (req, res) => {
      // E.g. an upstream header Node refuses to write: answer 502 rather than crash on a rejected promise.
      this.handle(req, res).catch(() => reply(res, 502, "proxy error"));
    });
  }

  static async start(opts: FrontProxyOptions): Promise<FrontProxy> {
    validate(opts);
    const server = createServer();
    const proxy = new FrontProxy(server, opts);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(opts.listen.port, opts.listen.host, () => {
        server.off("error", reject);
        resolve();
      });
    }).catch((err: unknown) => {
      throw new Error(`FrontProxy: cannot listen on ${opts.listen.host}:${opts.listen.port}`, { cause: err });
    });
    return proxy;
  }

  get url(): string {
    const addr = this.server.address() as AddressInfo;
    const host = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
    return `http://${host}:${addr.port}`;
  }

  stats(): FrontProxyStats {
    return { ...this.counters, poolSize: this.pool.size };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    this.pool.close();
    await closed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.counters.requests++;
    let body: Buffer;
    try {
      body = await readBody(req);
    } catch {
      res.destroy(); // the client went away mid-request: nobody to answer
      return;
    }
    const { socket, reused } = this.pool.acquire();
    if (reused) this.counters.poolReuses++;
    const headRequest = req.method === "HEAD";
    const result = await exchange(socket, serializeRequest(req, body), {
      headRequest,
      timeoutMs: this.upstreamTimeoutMs,
    });
    if (this.stopped) {
      // stop() destroyed the upstream connection under this request: not an upstream failure to count.
      this.pool.discard(socket);
      res.destroy();
      return;
    }
    if (!result.ok) {
      this.pool.discard(socket);
      if (result.reason === "timeout") return reply(res, 504, "upstream timeout");
      if (result.reason === "reset") this.counters.upstreamResets++;
      this.counters.responses502++;
      return reply(
        res,
        502,
        result.reason === "reset" ? "upstream reset" : `upstream ${result.reason} error`,
      );
    }
    if (result.reusable) this.pool.release(socket);
    else this.pool.discard(socket);

    const { response } = result;
    const bodiless = headRequest || response.statusCode === 204 || response.statusCode === 304;
    // A bodiless response keeps the upstream's Content-Length (it describes the GET); otherwise it is ours.
    const headers = endToEndHeaders(flatten(response.headers), bodiless ? [] : ["content-length"]);
    if (!bodiless) headers.push(["Content-Length", String(response.body.length)]);
    if (response.statusCode === 502) this.counters.responses502++;
    res.writeHead(response.statusCode, response.statusMessage || undefined, flatten(headers));
    res.end(bodiless ? undefined : response.body);
  }
}

function reply(res: ServerResponse, status: number, text: string): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { "content-type": "text/plain", "content-length": Buffer.byteLength(text) + 1 });
  res.end(`${text}\n`);
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function validate(opts: FrontProxyOptions): void {
  const check = (ok: boolean, field: string, rule: string, got: unknown): void => {
    if (!ok) throw new RangeError(`FrontProxyOptions.${field} ${rule} (got ${JSON.stringify(got)})`);
  };
  for (const side of ["listen", "upstream"] as const) {
    const ep = opts[side];
    check(
      typeof ep?.host === "string" && ep.host.length > 0,
      `${side}.host`,
      "must be a non-empty string",
      ep?.host,
    );
    const min = side === "listen" ? 0 : 1;
    check(
      Number.isInteger(ep.port) && ep.port >= min && ep.port <= 65_535,
      `${side}.port`,
      `must be ${min}..65535`,
      ep.port,
    );
  }
  check(
    Number.isFinite(opts.idleTimeoutMs) && opts.idleTimeoutMs > 0,
    "idleTimeoutMs",
    "must be > 0",
    opts.idleTimeoutMs,
  );
  if (opts.upstreamTimeoutMs !== undefined) {
    const t = opts.upstreamTimeoutMs;
    check(Number.isFinite(t) && t > 0, "upstreamTimeoutMs", "must be > 0", t);
  }
}
