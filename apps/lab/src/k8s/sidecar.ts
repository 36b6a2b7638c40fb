import {
  Agent,
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from "node:http";
import type { Socket } from "node:net";

export interface SidecarOptions {
  /** The pod's address: where Services send traffic. */
  host: string;
  port: number;
  /** Where the application listens inside the pod. */
  appHost: string;
  appPort: number;
  /** Envoy's admin port (stats), on the pod's address. */
  adminPort: number;
  log?: (line: string) => void;
}

/** The counters of Envoy's inbound listener that draining cares about, under Envoy's own names. */
export interface SidecarStats {
  downstream_cx_total: number;
  downstream_cx_active: number;
  downstream_cx_drain_close: number;
  downstream_rq_total: number;
  downstream_rq_active: number;
  downstream_rq_2xx: number;
  downstream_rq_3xx: number;
  downstream_rq_4xx: number;
  downstream_rq_5xx: number;
  upstream_cx_connect_fail: number;
  upstream_rq_retry: number;
}

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "te",
  "trailer",
]);

function forwardable(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
  return out;
}

// Envoy's answer when the upstream is gone: what clients of a pod whose app exited before its sidecar see.
const NO_UPSTREAM_BODY =
  "upstream connect error or disconnect/reset before headers. reset reason: connection failure";

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port }, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

/**
 * A mesh sidecar (Envoy) in front of one pod's application: an HTTP proxy on the pod's address with its own
 * keep-alive pools on both sides. It outlives the application during termination (domain.md §3): requests
 * that still reach it after the app exited get 503 and leave no line in the app's log. While draining
 * (the pod is terminating) it answers with `Connection: close`, as Istio's drain does, so keep-alive
 * clients reconnect elsewhere.
 */
export class Sidecar {
  readonly stats: SidecarStats = {
    downstream_cx_total: 0,
    downstream_cx_active: 0,
    downstream_cx_drain_close: 0,
    downstream_rq_total: 0,
    downstream_rq_active: 0,
    downstream_rq_2xx: 0,
    downstream_rq_3xx: 0,
    downstream_rq_4xx: 0,
    downstream_rq_5xx: 0,
    upstream_cx_connect_fail: 0,
    upstream_rq_retry: 0,
  };
  private draining = false;
  private readonly sockets = new Set<Socket>();
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 256 });
  private readonly server: Server;
  private readonly admin: Server;
  private readonly log: (line: string) => void;

  private constructor(private readonly opts: SidecarOptions) {
    this.log = opts.log ?? (() => {});
    // Envoy's downstream idle timeout is an hour: the sidecar is never the first to drop an idle connection.
    this.server = createServer({ keepAliveTimeout: 3_600_000, requestTimeout: 0 });
    this.server.on("connection", (s: Socket) => {
      this.stats.downstream_cx_total++;
      this.stats.downstream_cx_active++;
      this.sockets.add(s);
      s.once("close", () => {
        this.stats.downstream_cx_active--;
        this.sockets.delete(s);
      });
    });
    this.server.on("request", (req, res) => this.forward(req, res, false));
    this.admin = createServer((req, res) => this.serveAdmin(req, res));
  }

  static async start(opts: SidecarOptions): Promise<Sidecar> {
    const sidecar = new Sidecar(opts);
    await listen(sidecar.server, opts.host, opts.port);
    try {
      await listen(sidecar.admin, opts.host, opts.adminPort);
    } catch (err) {
      sidecar.server.close();
      throw err;
    }
    return sidecar;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  beginDrain(): void {
    this.draining = true;
  }

  /** The container is gone: listeners close and every connection ends, as the kernel does on exit. */
  async close(): Promise<void> {
    this.agent.destroy();
    for (const s of this.sockets) s.destroy();
    await Promise.all(
      [this.server, this.admin].map(
        (srv) =>
          new Promise<void>((resolve) => {
            srv.close(() => resolve());
            srv.closeAllConnections();
          }),
      ),
    );
  }

  private count(status: number): void {
    if (status >= 500) this.stats.downstream_rq_5xx++;
    else if (status >= 400) this.stats.downstream_rq_4xx++;
    else if (status >= 300) this.stats.downstream_rq_3xx++;
    else this.stats.downstream_rq_2xx++;
  }

  private reply(res: ServerResponse, status: number, body: string): void {
    if (res.headersSent || res.destroyed) return;
    const headers: Record<string, string | number> = {
      "content-type": "text/plain",
      "content-length": Buffer.byteLength(body),
      server: "envoy",
    };
    if (this.draining) headers.connection = "close";
    res.writeHead(status, headers);
    res.end(body);
  }

  private forward(req: IncomingMessage, res: ServerResponse, isRetry: boolean): void {
    if (!isRetry) {
      this.stats.downstream_rq_total++;
      this.stats.downstream_rq_active++;
      res.once("close", () => {
        this.stats.downstream_rq_active--;
        this.count(res.statusCode);
        if (this.draining && res.getHeader("connection") === "close") this.stats.downstream_cx_drain_close++;
      });
    }
    const up = request({
      host: this.opts.appHost,
      port: this.opts.appPort,
      method: req.method,
      path: req.url,
      headers: forwardable(req.headers),
      agent: this.agent,
    });
    up.on("response", (upRes) => {
      const headers: Record<string, string | string[]> = forwardable(upRes.headers);
      if (this.draining) headers.connection = "close";
      res.writeHead(upRes.statusCode ?? 502, headers);
      upRes.pipe(res);
      upRes.on("error", () => res.destroy());
    });
    up.on("error", (err: NodeJS.ErrnoException) => {
      // A pooled connection the app closed just as we reused it: the request never reached the app, and
      // Envoy retries that (reset before any byte of response). A refused connection is not retried: the
      // app is gone, which is exactly the 503 the sidecar exists to show.
      if (
        up.reusedSocket &&
        err.code === "ECONNRESET" &&
        !isRetry &&
        !res.headersSent &&
        req.method === "GET"
      ) {
        this.stats.upstream_rq_retry++;
        this.forward(req, res, true);
        return;
      }
      if (err.code === "ECONNREFUSED") this.stats.upstream_cx_connect_fail++;
      if (res.headersSent) res.destroy();
      else this.reply(res, 503, NO_UPSTREAM_BODY);
    });
    if (isRetry) up.end();
    else req.pipe(up);
  }

  private statLines(): [string, number][] {
    const prefix = `http.inbound_0.0.0.0_${this.opts.port}`;
    const cluster = `cluster.inbound|${this.opts.port}||`;
    const s = this.stats;
    return [
      [`${cluster}.upstream_cx_connect_fail`, s.upstream_cx_connect_fail],
      [`${cluster}.upstream_rq_retry`, s.upstream_rq_retry],
      ...(Object.entries(s) as [keyof SidecarStats, number][])
        .filter(([k]) => k.startsWith("downstream_"))
        .map(([k, v]): [string, number] => [`${prefix}.${k}`, v]),
      ["server.state", this.draining ? 1 : 0],
    ];
  }

  private serveAdmin(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? "/", "http://admin.invalid");
    const text = (status: number, body: string, type = "text/plain") => {
      res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) });
      res.end(body);
    };
    switch (url.pathname) {
      case "/stats": {
        const lines = this.statLines();
        if (url.searchParams.get("format") === "json") {
          return text(
            200,
            JSON.stringify({ stats: lines.map(([name, value]) => ({ name, value })) }),
            "application/json",
          );
        }
        return text(200, `${lines.map(([n, v]) => `${n}: ${v}`).join("\n")}\n`);
      }
      case "/ready":
        return text(this.draining ? 503 : 200, this.draining ? "DRAINING\n" : "LIVE\n");
      default:
        return text(404, "not found\n");
    }
  }
}
