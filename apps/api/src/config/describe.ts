import type { EbbConfig } from "./config.js";

/** Query parameters that carry credentials in database and Redis URLs (`?password=`, `?sslpassword=`). */
const SECRET_PARAM = /pass|secret|token|key/i;

/** A URL safe to log: the password and credential-looking query parameters become `***`. */
export function redactUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    // Never echo what we could not parse: it may be a password pasted in the wrong variable.
    return "(unparseable URL)";
  }
  if (url.password) url.password = "***";
  for (const name of [...url.searchParams.keys()]) {
    if (SECRET_PARAM.test(name)) url.searchParams.set(name, "***");
  }
  return url.toString().replaceAll("%2A%2A%2A", "***");
}

/** One line per setting for the boot log. Secrets are redacted; the admin token shows only whether it is set. */
export function describeConfig(config: EbbConfig): string {
  const lines: [string, string][] = [
    ["role", config.role],
    ["api", `http://${config.api.host}:${config.api.port}/api/v1`],
    [
      "database",
      config.database.url === undefined
        ? `embedded PGlite in ${config.database.dataDir}`
        : redactUrl(config.database.url),
    ],
    [
      "redis",
      config.redis.url === undefined
        ? `embedded redis-server on 127.0.0.1:${config.redis.embeddedPort} (files in ${config.redis.dir})`
        : redactUrl(config.redis.url),
    ],
    ["data dir", config.dataDir],
    ["lock dir", config.lockDir],
    [
      "workers",
      `concurrency ${config.worker.concurrency}, reconcile every ${config.worker.reconcileIntervalMs} ms`,
    ],
    ["admin token", config.adminToken === undefined ? "not set" : "set (from EBB_ADMIN_TOKEN)"],
    ["log level", config.logLevel],
    ["log format", config.logFormat],
    [
      "metrics",
      config.role === "worker"
        ? config.metrics.port === null
          ? "off"
          : `http://${config.metrics.host}:${config.metrics.port === 0 ? "<any free port>" : config.metrics.port}/metrics`
        : "GET /metrics on the API's port",
    ],
    ["traces", config.tracing === undefined ? "off" : `OTLP/HTTP to ${redactUrl(config.tracing.endpoint)}`],
  ];
  return lines.map(([key, value]) => `  ${key.padEnd(12)} ${value}`).join("\n");
}
