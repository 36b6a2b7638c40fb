import { readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import path from "node:path";
import type { VmConfig } from "./config.js";
import type { ConnectionTracker } from "./connections.js";
import type { BackgroundJobs } from "./jobs.js";
import { HEALTH_CHECK_FILE, type VmPaths } from "./layout.js";
import { errorFields, type VmLogger } from "./log.js";
import { HttpMetrics } from "./metrics.js";
import { type ReleaseFlags, releaseFlags } from "./release.js";

export interface RouteContext {
  config: VmConfig;
  paths: VmPaths;
  /** The release `current` pointed at when the process started: a deploy changes it only on restart. */
  version: string;
  startedAt: string;
  lostOnLastRun: string[];
  tracker: ConnectionTracker;
  jobs: BackgroundJobs;
  log: VmLogger;
}

const MAX_MS = 600_000;
const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".json": "application/json",
  ".css": "text/css",
  ".js": "text/javascript",
};

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** Not traffic: probes and scrapes, never failed on purpose and left out of /metrics. */
export const MONITORING_PATHS: ReadonlySet<string> = new Set([
  `/${HEALTH_CHECK_FILE}`,
  "/status",
  "/metrics",
]);

export function createRoutes(ctx: RouteContext): Handler {
  const { tracker, config, log } = ctx;
  const metrics = new HttpMetrics();
  const flags: ReleaseFlags = releaseFlags(ctx.version);
  let trafficRequests = 0;
  /** Exactly `failRatio` of the traffic requests, spread evenly (no randomness: a test knows what to expect). */
  const injectFailure = (): boolean => {
    if (flags.failRatio <= 0) return false;
    const n = ++trafficRequests;
    return Math.floor(n * flags.failRatio) > Math.floor((n - 1) * flags.failRatio);
  };

  const send = (
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    body: string | Buffer,
    type: string,
  ) => {
    // The client already hung up (e.g. during a /slow wait): nothing to answer.
    if (res.destroyed || res.headersSent) return;
    const headers: Record<string, string | number> = {
      "Content-Type": type,
      "Content-Length": Buffer.byteLength(body),
    };
    // Checked when the answer goes out, not when the request came in, so a request that was in flight when
    // the drain began is answered with `Connection: close` too.
    if (tracker.draining) headers.Connection = "close";
    res.writeHead(status, headers);
    res.end(req.method === "HEAD" ? undefined : body);
  };
  const json = (req: IncomingMessage, res: ServerResponse, status: number, value: unknown) =>
    send(req, res, status, `${JSON.stringify(value)}\n`, "application/json");

  const msParam = (url: URL, fallback: number): number | null => {
    const raw = url.searchParams.get("ms");
    if (raw === null) return fallback;
    const ms = Number(raw);
    return Number.isInteger(ms) && ms >= 0 && ms <= MAX_MS ? ms : null;
  };

  const serveFile = async (req: IncomingMessage, res: ServerResponse, pathname: string) => {
    let decoded: string;
    try {
      decoded = decodeURIComponent(pathname);
    } catch {
      return json(req, res, 400, { error: "malformed path" });
    }
    const file = path.resolve(ctx.paths.docroot, `.${path.posix.normalize(decoded)}`);
    if (decoded.includes("\0") || !file.startsWith(`${ctx.paths.docroot}${path.sep}`)) {
      return json(req, res, 404, { error: "not found" });
    }
    try {
      // Read on every request, no cache: renaming health_check.html must take effect at once.
      const body = await readFile(file);
      send(req, res, 200, body, TYPES[path.extname(file)] ?? "application/octet-stream");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "EISDIR" || code === "ENOTDIR")
        return json(req, res, 404, { error: "not found" });
      throw err;
    }
  };

  const route = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    if (req.method !== "GET" && req.method !== "HEAD")
      return json(req, res, 405, { error: "method not allowed" });
    if (!MONITORING_PATHS.has(url.pathname)) {
      if (flags.slowMs > 0) await new Promise((resolve) => setTimeout(resolve, flags.slowMs));
      if (injectFailure())
        return json(req, res, 500, {
          error: `injected failure (release ${ctx.version})`,
          version: ctx.version,
        });
    }
    switch (url.pathname) {
      case "/":
        return json(req, res, 200, {
          version: ctx.version,
          host: config.name,
          address: `${config.host}:${config.port}`,
          pid: process.pid,
          startedAt: ctx.startedAt,
        });
      case "/status":
        return json(req, res, 200, {
          name: config.name,
          version: ctx.version,
          pid: process.pid,
          draining: tracker.draining,
          connections: tracker.counts(),
          inFlightRequests: tracker.inFlight(),
          ...tracker.counters(),
          pendingJobs: ctx.jobs.ids(),
          lostOnLastRun: ctx.lostOnLastRun,
        });
      case "/metrics":
        return send(
          req,
          res,
          200,
          metrics.render({ host: config.name, version: ctx.version }),
          "text/plain; version=0.0.4; charset=utf-8",
        );
      case "/work": {
        const ms = msParam(url, 200);
        if (ms === null)
          return json(req, res, 400, { error: `query parameter ms: integer 0-${MAX_MS} expected` });
        return json(req, res, 202, { job: ctx.jobs.start(ms) });
      }
      case "/slow": {
        const ms = msParam(url, 300);
        if (ms === null)
          return json(req, res, 400, { error: `query parameter ms: integer 0-${MAX_MS} expected` });
        setTimeout(() => json(req, res, 200, { version: ctx.version, host: config.name, sleptMs: ms }), ms);
        return;
      }
      case `/${HEALTH_CHECK_FILE}`:
        if (config.faults?.neverHealthy)
          return json(req, res, 503, { error: "unhealthy (faults.neverHealthy)" });
        return serveFile(req, res, url.pathname);
      default:
        return serveFile(req, res, url.pathname);
    }
  };

  return (req, res) => {
    // Concatenated rather than resolved against a base: a request target like "//x" must stay a path.
    const raw = req.url ?? "/";
    const url = URL.canParse(`http://vm.invalid${raw}`)
      ? new URL(`http://vm.invalid${raw}`)
      : new URL("http://vm.invalid/");
    const conn = tracker.connId(req.socket);
    const began = performance.now();
    const traffic = !MONITORING_PATHS.has(url.pathname);
    // The path only, never the query string: queries are where secrets would travel.
    res.once("close", () => {
      const status = res.writableFinished ? res.statusCode : 0;
      if (traffic && status) metrics.record(status, performance.now() - began);
      log.request({
        method: req.method ?? "?",
        path: url.pathname,
        status,
        conn,
        ...(status ? {} : { aborted: true }),
      });
    });
    route(req, res, url).catch((err: unknown) => {
      log.error("request failed", { path: url.pathname, conn, ...errorFields(err) });
      json(req, res, 500, { error: "internal error" });
    });
  };
}
