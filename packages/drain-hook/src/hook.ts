import http from "node:http";
import { type DrainHookConfig, readIf } from "./config.js";
import { readConnections } from "./connections.js";
import { Drain, type DrainReport } from "./drain.js";
import { apiGet, type EndpointView, endpointView } from "./kube.js";

/** What the hook sends Ebb (and logs): the pod, when, and what it saw. */
export interface TerminationReport extends DrainReport {
  pod: string;
  namespace: string;
  podIP: string;
  startedAt: string;
  releasedAt: string;
}

export interface DrainHook {
  readonly address: { host: string; port: number };
  /** Resolves with the report once a termination was released (for tests). */
  readonly reports: TerminationReport[];
  close(): Promise<void>;
}

type Log = (event: string, fields: Record<string, unknown>) => void;

export const jsonLog: Log = (event, fields) =>
  process.stdout.write(`${JSON.stringify({ at: new Date().toISOString(), event, ...fields })}\n`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function postReport(cfg: DrainHookConfig, report: TerminationReport, log: Log): Promise<void> {
  const ebb = cfg.ebb;
  if (!ebb) return;
  const url = `${ebb.url}/api/v1/fleets/${encodeURIComponent(ebb.fleet)}/terminations`;
  const token = ebb.token ?? (ebb.tokenFile ? readIf(ebb.tokenFile) : undefined);
  if (!token) {
    log("report-skipped", { to: url, why: `no token in ${ebb.tokenFile ?? "EBB_TOKEN"}` });
    return;
  }
  try {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify(report),
      signal: AbortSignal.timeout(5_000),
    });
    await res.text();
    log("reported", { to: url, status: res.status });
  } catch (err) {
    // Ebb being down must never hold a termination: the report is best effort.
    log("report-failed", { to: url, error: (err as Error).message });
  }
}

/**
 * Runs one termination: observes the EndpointSlices and the app port's connections every poll interval
 * until the Drain decides, then returns its report. The API is read with the pod's own token; an error
 * counts as "not known to be out", so the hook holds (to the limit) rather than guess.
 */
export async function runDrain(cfg: DrainHookConfig, log: Log = jsonLog): Promise<TerminationReport> {
  const started = Date.now();
  const drain = new Drain(cfg, started);
  const ignore = new Set(cfg.hostIP ? [cfg.hostIP] : []);
  const slicesPath = `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(cfg.namespace)}/endpointslices`;
  log("prestop", {
    pod: cfg.pod,
    propagationMs: cfg.propagationMs,
    holdMs: cfg.holdMs,
    limitMs: drain.limitAt - started,
  });
  let lastError: string | undefined;
  for (;;) {
    const [endpoints, connections] = await Promise.all([
      apiGet(cfg.api, slicesPath, Math.max(500, cfg.pollMs * 5)).then(
        (list): EndpointView => endpointView(list, cfg.pod, cfg.podIP),
        (err: Error) => {
          if (err.message !== lastError) log("api-error", { error: err.message });
          lastError = err.message;
          return null;
        },
      ),
      readConnections(cfg.podIP, cfg.appPort, ignore),
    ]);
    const now = Date.now();
    drain.observe({ at: now, endpoints, connections });
    const reason = drain.decide(now);
    if (reason) {
      const report = drain.report(reason, now);
      return {
        pod: cfg.pod,
        namespace: cfg.namespace,
        podIP: cfg.podIP,
        startedAt: new Date(started).toISOString(),
        releasedAt: new Date(now).toISOString(),
        ...report,
      };
    }
    await sleep(Math.min(cfg.pollMs, Math.max(1, drain.limitAt - Date.now())));
  }
}

/**
 * The sidecar: `GET /drain` is the app container's preStop httpGet. The first call starts the drain; the
 * kubelet's answer comes when it is released (later calls wait for the same one). `GET /healthz` for a
 * startup probe.
 */
export async function startDrainHook(cfg: DrainHookConfig, log: Log = jsonLog): Promise<DrainHook> {
  let running: Promise<TerminationReport> | undefined;
  const reports: TerminationReport[] = [];
  const server = http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method === "GET" && path === "/healthz") {
      res.end("ok");
      return;
    }
    if (req.method !== "GET" || path !== "/drain") {
      res.statusCode = 404;
      res.end("not found: the preStop hook is GET /drain\n");
      return;
    }
    running ??= runDrain(cfg, log).then((report) => {
      reports.push(report);
      log("released", { ...report });
      void postReport(cfg, report, log);
      return report;
    });
    running.then(
      (report) => {
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify(report));
      },
      (err: Error) => {
        log("drain-failed", { error: err.message });
        res.statusCode = 500;
        res.end(err.message);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(cfg.listen.port, cfg.listen.host, () => resolve());
  });
  const a = server.address() as { address: string; port: number };
  log("listening", { host: a.address, port: a.port, pod: cfg.pod, namespace: cfg.namespace });
  return {
    address: { host: a.address, port: a.port },
    reports,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
