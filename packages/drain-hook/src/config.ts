import { readFileSync } from "node:fs";
import path from "node:path";

/** Everything the hook reads from its environment, durations in ms. */
export interface DrainHookConfig {
  pod: string;
  namespace: string;
  podIP: string;
  /** The node's address (status.hostIP): connections from it are the kubelet's probes, not clients. */
  hostIP: string | undefined;
  listen: { host: string; port: number };
  /** The app container's port, whose new connections the hook counts. */
  appPort: number;
  propagationMs: number;
  holdMs: number;
  /** The pod's terminationGracePeriodSeconds: the kubelet's SIGKILL deadline, counted from the preStop call. */
  graceMs: number;
  /** What the app needs after SIGTERM: the hook answers at grace - budget at the latest. */
  shutdownBudgetMs: number;
  pollMs: number;
  api: { url: string; token: string | undefined; ca: string | undefined };
  /** Where to report; the token file is read at each report, so a rotated Secret is picked up. */
  ebb: { url: string; fleet: string; token?: string; tokenFile?: string } | undefined;
}

export class ConfigError extends Error {}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000 };

/** `500ms`, `2s`, `1.5s`, `1m`; a bare number is seconds (as terminationGracePeriodSeconds). */
export function parseDuration(name: string, raw: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(raw.trim());
  if (!m)
    throw new ConfigError(`${name}: expected a duration such as 500ms, 2s or 1m, got ${JSON.stringify(raw)}`);
  return Math.round(Number(m[1]) * UNITS[m[2] ?? "s"]!);
}

function port(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 65_535)
    throw new ConfigError(`${name}: expected a port number 1-65535, got ${JSON.stringify(raw)}`);
  return n;
}

const SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

export function readIf(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8").trim();
  } catch {
    return undefined;
  }
}

/**
 * The configuration from the environment (see docs/drain-hook.md). POD_NAME, POD_NAMESPACE, POD_IP and
 * HOST_IP come from the downward API; the API's address and token from the service account, as any
 * in-cluster client (KUBE_API_URL / KUBE_SERVICEACCOUNT_DIR override both, for the lab's kubelet).
 */
export function loadConfig(env: NodeJS.ProcessEnv): DrainHookConfig {
  const need = (name: string): string => {
    const v = env[name];
    if (v === undefined || v === "") throw new ConfigError(`${name} is required (see docs/drain-hook.md)`);
    return v;
  };
  const duration = (name: string, def: string) => parseDuration(name, env[name] ?? def);
  const saDir = env.KUBE_SERVICEACCOUNT_DIR ?? SA_DIR;
  const podIP = need("POD_IP");
  const apiUrl =
    env.KUBE_API_URL ??
    (env.KUBERNETES_SERVICE_HOST
      ? `https://${env.KUBERNETES_SERVICE_HOST}:${env.KUBERNETES_SERVICE_PORT ?? "443"}`
      : undefined);
  if (!apiUrl)
    throw new ConfigError(
      "KUBERNETES_SERVICE_HOST (or KUBE_API_URL) is required: the hook reads EndpointSlices",
    );
  const namespace = env.POD_NAMESPACE ?? readIf(path.join(saDir, "namespace"));
  if (!namespace) throw new ConfigError("POD_NAMESPACE is required (downward API metadata.namespace)");
  const ebbUrl = env.EBB_URL;
  let ebb: DrainHookConfig["ebb"];
  if (ebbUrl) {
    const token = env.EBB_TOKEN || undefined;
    const tokenFile = env.EBB_TOKEN_FILE || undefined;
    if (!token && !tokenFile)
      throw new ConfigError("EBB_URL is set: EBB_TOKEN or EBB_TOKEN_FILE is required too");
    if (!/^https?:\/\//.test(ebbUrl))
      throw new ConfigError(`EBB_URL: expected http(s)://host:port, got ${JSON.stringify(ebbUrl)}`);
    ebb = {
      url: ebbUrl.replace(/\/+$/, ""),
      fleet: need("EBB_FLEET"),
      ...(token ? { token } : {}),
      ...(tokenFile ? { tokenFile } : {}),
    };
  }
  const graceMs = duration("DRAIN_HOOK_GRACE", "30s");
  const shutdownBudgetMs = duration("DRAIN_HOOK_SHUTDOWN_BUDGET", "5s");
  if (shutdownBudgetMs >= graceMs)
    throw new ConfigError(
      `DRAIN_HOOK_SHUTDOWN_BUDGET (${shutdownBudgetMs} ms) must be shorter than DRAIN_HOOK_GRACE (${graceMs} ms)`,
    );
  return {
    pod: need("POD_NAME"),
    namespace,
    podIP,
    hostIP: env.HOST_IP || undefined,
    listen: {
      host: env.DRAIN_HOOK_HOST ?? "0.0.0.0",
      port: port("DRAIN_HOOK_PORT", env.DRAIN_HOOK_PORT ?? "8099"),
    },
    appPort: port("DRAIN_HOOK_APP_PORT", env.DRAIN_HOOK_APP_PORT ?? "8080"),
    propagationMs: duration("DRAIN_HOOK_PROPAGATION", "5s"),
    holdMs: duration("DRAIN_HOOK_HOLD", "1s"),
    graceMs,
    shutdownBudgetMs,
    pollMs: duration("DRAIN_HOOK_POLL", "100ms"),
    api: {
      url: apiUrl.replace(/\/+$/, ""),
      token: readIf(path.join(saDir, "token")),
      ca: readIf(path.join(saDir, "ca.crt")),
    },
    ebb,
  };
}
