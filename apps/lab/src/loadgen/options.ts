import type { LoadOptions } from "./types.js";

export interface ResolvedLoadOptions {
  targets: { host: string; port: number }[];
  clients: number;
  rate: number;
  path: string;
  timeoutMs: number;
  durationMs: number | undefined;
  recordLatency: boolean;
}

export const DEFAULT_TIMEOUT_MS = 2000;

/** Validates LoadOptions and fills defaults; a bad value throws a RangeError naming the field. */
export function resolveLoadOptions(opts: LoadOptions): ResolvedLoadOptions {
  const targets = Array.isArray(opts.target) ? opts.target : [opts.target];
  if (targets.length === 0) fail("target", "must name at least one target", opts.target);
  targets.forEach((target, i) => {
    const field = Array.isArray(opts.target) ? `target[${i}]` : "target";
    if (typeof target?.host !== "string" || target.host.length === 0) {
      fail(`${field}.host`, "must be a non-empty string", target?.host);
    }
    if (!Number.isInteger(target.port) || target.port < 1 || target.port > 65_535) {
      fail(`${field}.port`, "must be an integer in 1..65535", target.port);
    }
  });
  if (!Number.isInteger(opts.clients) || opts.clients < 1)
    fail("clients", "must be an integer >= 1", opts.clients);
  if (!Number.isFinite(opts.rate) || opts.rate < 0) fail("rate", "must be a finite number >= 0", opts.rate);
  const path = opts.path ?? "/";
  if (typeof path !== "string" || !path.startsWith("/")) fail("path", 'must start with "/"', path);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) fail("timeoutMs", "must be a number > 0", timeoutMs);
  if (opts.durationMs !== undefined && (!Number.isFinite(opts.durationMs) || opts.durationMs <= 0)) {
    fail("durationMs", "must be a number > 0", opts.durationMs);
  }
  return {
    targets: targets.map(({ host, port }) => ({ host, port })),
    clients: opts.clients,
    rate: opts.rate,
    path,
    timeoutMs,
    durationMs: opts.durationMs,
    recordLatency: opts.recordLatency === true,
  };
}

function fail(field: string, rule: string, got: unknown): never {
  throw new RangeError(`LoadOptions.${field} ${rule} (got ${JSON.stringify(got)})`);
}
