export interface LoadTarget {
  host: string;
  port: number;
}

export interface LoadOptions {
  /**
   * Where requests go, e.g. the VIP. Several targets spread the clients over them round robin (client i uses
   * target i mod n): that is "direct access to the VMs" in benchmarks, one report over all of them.
   */
  target: LoadTarget | LoadTarget[];
  /** K keep-alive clients, each with one persistent connection at a time and requests in sequence. */
  clients: number;
  /** Requests per second in total, spread evenly over the clients; 0 = as fast as possible. */
  rate: number;
  /** Request path, default "/". */
  path?: string;
  /**
   * Per-request deadline (connect to last body byte), default 2000; past it the request counts as "timeout".
   * Counted in the time the generator's process could run: a stall of its event loop moves it back.
   */
  timeoutMs?: number;
  /** Stop by itself after this long. */
  durationMs?: number;
  /** Keep every request latency so the report can carry percentiles. */
  recordLatency?: boolean;
}

export const ERROR_KINDS = ["rst", "http5xx", "http4xx", "timeout", "refused", "closed", "other"] as const;
export type ErrorKind = (typeof ERROR_KINDS)[number];

export interface SecondReport {
  /** 0-based index of the second since start(). */
  second: number;
  /** ISO time at which this second's window began. */
  at: string;
  /** Requests that finished in this window (ok + every error kind). */
  requests: number;
  ok: number;
  errors: Record<ErrorKind, number>;
  /** HTTP responses (any status) by the `host` of the JSON body; `unknown` when absent. */
  byServer: Record<string, number>;
  /** HTTP responses (any status) by the `version` of the JSON body; `unknown` when absent. */
  byVersion: Record<string, number>;
  /** Connections the clients opened (connect attempts included) in this window. */
  newConnections: number;
}

export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export interface ErrorSample {
  at: string;
  kind: ErrorKind;
  message: string;
  /** Index of the client (0..clients-1) that saw it. */
  client: number;
}

export interface LoadReport {
  startedAt: string;
  endedAt: string;
  durationMs: number;
  requests: number;
  ok: number;
  errors: Record<ErrorKind, number>;
  byServer: Record<string, number>;
  byVersion: Record<string, number>;
  newConnections: number;
  seconds: SecondReport[];
  /** Milliseconds, present when recordLatency was set and at least one request finished. */
  latencyMs?: LatencySummary;
  /** The first 50 errors. */
  errorSamples: ErrorSample[];
  /**
   * The longest stall of the generator's own event loop (ms, 20 ms resolution). Deadlines already leave
   * stalls out (LoadOptions.timeoutMs); a long one still means the timing of this run is suspect.
   */
  loopStallMaxMs: number;
}

/** How one request ended. */
export interface RequestOutcome {
  /** null when the request succeeded. */
  error: { kind: ErrorKind; message: string } | null;
  /** Present when a complete HTTP response arrived (whatever its status). */
  response: { status: number; host: string; version: string } | null;
  /** From the request being issued to its outcome. */
  latencyNs: bigint;
}
