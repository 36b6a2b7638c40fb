import { parseArgs } from "node:util";
import type { LoadOptions } from "./types.js";

export const USAGE = `usage: ebb-load --target HOST:PORT [--clients 10] [--rate 100] [--duration 30s] [--path /]
                [--timeout 2s] [--latency]
  --rate 0 sends as fast as possible. Without --duration, runs until SIGINT.
  Prints one JSON line per second, then the final report. Exit code 0 if no request failed, 1 otherwise.`;

export class UsageError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UsageError";
  }
}

/** Parses `ebb-load` arguments into LoadOptions; throws UsageError naming the bad flag. */
export function parseLoadArgs(argv: string[]): LoadOptions | "help" {
  let values: ReturnType<typeof parse>["values"];
  try {
    values = parse(argv).values;
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err), { cause: err });
  }
  if (values.help) return "help";
  if (values.target === undefined) throw new UsageError("--target HOST:PORT is required");
  const opts: LoadOptions = {
    target: parseTarget(values.target),
    clients: parseNumber("--clients", values.clients ?? "10", { integer: true, min: 1 }),
    rate: parseNumber("--rate", values.rate ?? "100", { min: 0 }),
    path: values.path ?? "/",
    timeoutMs: parseDuration("--timeout", values.timeout ?? "2s"),
    recordLatency: values.latency ?? false,
  };
  if (!opts.path?.startsWith("/")) throw new UsageError(`--path must start with "/" (got ${values.path})`);
  if (values.duration !== undefined) opts.durationMs = parseDuration("--duration", values.duration);
  return opts;
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      target: { type: "string", short: "t" },
      clients: { type: "string", short: "c" },
      rate: { type: "string", short: "r" },
      duration: { type: "string", short: "d" },
      path: { type: "string", short: "p" },
      timeout: { type: "string" },
      latency: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
}

/** "127.0.0.1:8080", "localhost:80" or "[::1]:8080". */
export function parseTarget(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(text);
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  if (!m || !host || port < 1 || port > 65_535) {
    throw new UsageError(`--target must be HOST:PORT with a port in 1..65535 (got ${JSON.stringify(text)})`);
  }
  return { host, port };
}

/** "500ms", "30s", "2m", or a bare number of seconds; returns milliseconds (> 0). */
export function parseDuration(flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  const scale = m?.[2] === "ms" ? 1 : m?.[2] === "m" ? 60_000 : 1000;
  const ms = Number(m?.[1]) * scale;
  if (!m || !(ms > 0)) throw new UsageError(`${flag} must be a duration like 500ms, 30s or 2m (got ${text})`);
  return ms;
}

function parseNumber(flag: string, text: string, rule: { integer?: boolean; min: number }): number {
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n) || n < rule.min || (rule.integer && !Number.isInteger(n))) {
    const what = rule.integer ? "an integer" : "a number";
    throw new UsageError(`${flag} must be ${what} >= ${rule.min} (got ${text})`);
  }
  return n;
}
