import type { BalancerKind, BalancerTiming, ExecutorKind, LiveFleetFacts } from "./facts.js";
import type { Finding } from "./findings.js";
import type { BalancerTargetState } from "./statuses.js";

/**
 * Driver interfaces. Implementations live in packages/drivers (one folder per balancer / executor);
 * the worker calls them to carry out the workflow's effects and reports the outcome back as events.
 * Every method may reject with an EbbError ("balancer_unavailable" / "executor_unavailable" are
 * retryable); the original error goes in `cause`.
 */

/** A target as drivers address it. */
export interface Target {
  name: string;
  host: string;
  port: number;
  executor: ExecutorKind;
  labels: Record<string, string>;
}

export interface TargetObservation {
  state: BalancerTargetState;
  /** The balancer sends NEW flows to it. Existing sessions may still flow to an unbound target. */
  bound: boolean;
  /** ISO time of the last state change, when the balancer reports it. */
  since?: string;
  /** Session entries the balancer holds for this target right now. */
  sessions: number;
}

/** One sample of a target's traffic as the balancer sees it (counters since the previous sample). */
export interface TrafficSample {
  /** ISO time of the sample. */
  at: string;
  activeSessions: number;
  newSessions: number;
  requests?: number;
  /** Sessions that ended with RST (a client-visible error). */
  resets: number;
}

/**
 * One target's cumulative counters as the balancer sees them. For live views, which keep their own
 * baselines: sharing `traffic()`'s would steal the deltas a `traffic.awaitQuiet` step relies on.
 */
export interface TargetSnapshot {
  name: string;
  state: BalancerTargetState;
  bound: boolean;
  sessions: number;
  sessionsOpened: number;
  resets: number;
  /** Client data segments (an L4 device cannot see requests; with keep-alive, one segment is one request). */
  requests?: number;
}

export interface Balancer {
  readonly kind: BalancerKind;
  timing(): Promise<BalancerTiming>;
  observe(target: Target): Promise<TargetObservation>;
  /** Only where the balancer has an admin API (HAProxy runtime API, the L4 device); absent otherwise. */
  disable?(target: Target): Promise<void>;
  enable?(target: Target): Promise<void>;
  traffic(target: Target): Promise<TrafficSample>;
  /** Every target at once, in one call where the balancer allows it. */
  snapshot?(targets: readonly Target[]): Promise<TargetSnapshot[]>;
  /** Facts the balancer reads live for planning and preflight (a pod's grace period, its gate ...). */
  liveFacts?(targets: readonly Target[]): Promise<LiveFleetFacts>;
  /**
   * Findings only the balancer can give, added to the rollout's preflight: a backend or server it does
   * not have (errors naming it), a timing that contradicts the fleet's declaration (warnings).
   */
  preflight?(targets: readonly Target[]): Promise<Finding[]>;
}

/** argv is executed without a shell; a script is run by `/bin/sh -c` (parameters only via env). */
export type CommandSpec = ({ argv: readonly string[] } | { script: string }) & {
  /** From buildCommandEnv(); the executor adds its base environment (PATH, HOME). */
  env: Readonly<Record<string, string>>;
  cwd?: string;
  /** Kill the command (TERM, then KILL) after this long; the result then has `timedOut: true`. */
  deadlineMs: number;
};

export interface ExecResult {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  durationMs: number;
  /** The last lines of stdout+stderr, for the step record; callers redact() secrets before storing. */
  outputTail: string;
}

export type OutputStream = "stdout" | "stderr";

/** Runs commands on ONE target (an ssh session to it, or local child processes). */
export interface Executor {
  readonly kind: ExecutorKind;
  run(cmd: CommandSpec, onOutput?: (chunk: string, stream: OutputStream) => void): Promise<ExecResult>;
}

export type ExecutorFactory = (target: Target) => Executor;
