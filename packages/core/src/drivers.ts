import type { BalancerKind, BalancerTiming, ExecutorKind, LiveFleetFacts } from "./facts.js";
import type { Finding } from "./findings.js";
import type { WorkloadLint } from "./lint/workload-lint.js";
import type { BalancerTargetState } from "./statuses.js";

/**
 * Driver interfaces. Implementations live in packages/drivers (one folder per balancer / executor);
 * the worker calls them to carry out the workflow's effects and reports the outcome back as events.
 * Every method may reject with an EbbError ("balancer_unavailable" / "executor_unavailable" are
 * retryable); the original error goes in `cause`.
 */

/**
 * A target as the balancer's platform runs it now: a pod of the fleet's workload. A Deployment's pods get new
 * names on every rollout (a new ReplicaSet) and whenever one is replaced (HPA, eviction, a node drain), so
 * the targets stored when the fleet was registered do not stay true: the platform's list is.
 */
export interface DiscoveredTarget {
  name: string;
  /** "" until the platform gave it an address (a pod not yet scheduled). */
  host: string;
  port: number;
  /** The version it runs, as the platform declares it (a pod's ebb.dev/version), when it does. */
  version?: string;
}

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
  /** A fleet behind several balancer members: each member's own view (the fields above are the agreement). */
  members?: Record<string, { state: BalancerTargetState; bound: boolean; sessions: number }>;
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
  /** A fleet behind several balancer members: each member's sample (the counts above are their sum). */
  members?: Record<string, TrafficSample>;
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
  /** New flows the target refused (the balancer reset the client): client errors besides `resets`. */
  refused?: number;
  /** A fleet behind several balancer members: each member's own counters (the fields above are their sum). */
  members?: Record<string, Omit<TargetSnapshot, "name" | "members">>;
}

/**
 * A balancer and what it can do. The engine asks for a capability (`admin`, `events`, `vipUrl`, `pods`),
 * never for a driver's class: a new driver plugs in by declaring what it has, and a step that needs a
 * capability the fleet's balancer lacks fails with a message naming both.
 */
export interface Balancer {
  readonly kind: BalancerKind;
  timing(): Promise<BalancerTiming>;
  observe(target: Target): Promise<TargetObservation>;
  traffic(target: Target): Promise<TrafficSample>;
  /** Take a target out of / into service directly (HAProxy's runtime API, the L4 device's admin API). */
  readonly admin?: BalancerAdmin;
  /** The balancer pushes changes; without it, waits poll. */
  readonly events?: BalancerEvents;
  /** The VIP clients use, for http.check `via: vip`. */
  readonly vipUrl?: string;
  /** The targets are pods the balancer's platform runs (loaded on first use: the client is heavy). */
  readonly pods?: () => Promise<PodControl>;
  /** Every target at once, in one call where the balancer allows it. */
  snapshot?(targets: readonly Target[]): Promise<TargetSnapshot[]>;
  /** Facts the balancer reads live for planning and preflight (a pod's grace period, its gate ...). */
  liveFacts?(targets: readonly Target[]): Promise<LiveFleetFacts>;
  /**
   * Findings only the balancer can give, added to the rollout's preflight: a backend or server it does
   * not have (errors naming it), a timing that contradicts the fleet's declaration (warnings).
   */
  preflight?(targets: readonly Target[]): Promise<Finding[]>;
  /** `ebb lint`: findings over the live workload the fleet's targets run in (a pod platform's). */
  lintWorkload?(): Promise<WorkloadLint>;
  /**
   * The fleet's targets as the platform runs them now, where the platform decides them (a workload's pods
   * that are not terminating): rollouts plan over these, not over the targets stored at registration.
   */
  discoverTargets?(): Promise<DiscoveredTarget[]>;
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

/**
 * Direct take-out and put-back. The engine counts a `balancer.disable`/`enable` step as done only when
 * `observe` reports the new state, not when the call returned.
 */
export interface BalancerAdmin {
  disable(target: Target): Promise<void>;
  enable(target: Target): Promise<void>;
}

export interface BalancerEvents {
  /**
   * Calls back with a target's name, or "*" when anything may have changed (a reconnect), whenever the
   * balancer reports a change that a waiting step may be looking for. Returns the unsubscribe.
   */
  watch(onChange: (target: string) => void): () => void;
}

/** A pod as the k8s.* steps see it. */
export interface PodView {
  uid: string;
  /** The pod IP ("" until it has one). */
  host: string;
  version: string;
  ready: boolean;
  gate: "True" | "False" | "Unknown" | null;
}

/**
 * The pod operations behind the k8s.* steps. Every change is read back before it counts, and every
 * decision is taken from what the cluster records (conditions, annotations, uids), so a worker that
 * resumes a step after a crash decides the same way.
 */
export interface PodControl {
  readonly config: { readonly propagationWindowMs: number; readonly timeScale: number };
  pod(name: string): Promise<PodView | null>;
  setReadiness(
    name: string,
    ready: boolean,
  ): Promise<{ method: "gate" | "label"; changed: boolean; pod: PodView }>;
  checkEndpointRemoved(
    name: string,
    opts?: { observedAt?: number },
  ): Promise<{ removed: boolean; removedAt?: number }>;
  /** Points the workload's template at a version, so a replacement runs it. */
  setTemplateVersion(version: string): Promise<{ revision: string }>;
  /**
   * strategy.maxSurge: starts replacements at `version` before their targets are retired, never more than
   * `maxSurge` pods above the workload's replicas. Only where the workload can (a Deployment); absent or
   * `surged: false` elsewhere. Idempotent.
   */
  startReplacements?(version: string, maxSurge: number): Promise<{ surged: boolean; replicas?: number }>;
  deletePod(
    name: string,
    opts: { wait: false; since: number; allowInService?: boolean; graceSeconds?: number },
  ): Promise<{ outcome: "deleted" | "deleting" | "already-gone" | "replaced"; uid?: string }>;
  checkPodGone(name: string, uid: string): Promise<boolean>;
  checkReplacementReady(
    name: string,
    version: string,
  ): Promise<{ ready: boolean; reason: string; pod?: PodView }>;
  /** Brings an aborted pod back into its Services on whatever version it runs. */
  restore(name: string, opts: { timeoutMs: number }): Promise<unknown>;
}

/** A stored target (its executor kind and labels untyped, as stored) as drivers address it. */
export function targetOf(record: {
  name: string;
  host: string;
  port: number;
  executor: string;
  labels: unknown;
}): Target {
  return {
    name: record.name,
    host: record.host,
    port: record.port,
    executor: record.executor === "ssh" ? "ssh" : "local",
    labels: (record.labels ?? {}) as Record<string, string>,
  };
}
