import { assertNever } from "../errors.js";
import { type BalancerTiming, bringUpWindowMs, detectionWindowMs } from "../facts.js";
import { commandText, execKind, type StepRole } from "./roles.js";
import type { Step, StepOf, StepType } from "./steps.js";

/**
 * What a step does to the target's place in the balancer:
 * - `takesOut`: starts taking it out of service (health check fails, server stops, admin disable);
 * - `observesOut`: completes only when the balancer reports it unbound;
 * - `bringsIn`: starts bringing it back (server starts, health check restored, admin enable);
 * - `observesIn`: completes only when the balancer reports it bound again.
 */
export type OutOfServiceEffect = "takesOut" | "observesOut" | "bringsIn" | "observesIn";

export interface StepTypeInfo<S extends Step = Step> {
  type: S["type"];
  summary: string;
  /** Safe to run again when a crash left the outcome unknown (exec steps may override). */
  idempotent: boolean;
  /** Re-checks a condition until it holds (the worker re-schedules it; it never holds a worker). */
  waits: boolean;
  /** How the step's effect is observed: a step is done when this holds, not when a command returned. */
  verify: string;
  /** Static effect; exec steps derive theirs from their command (see stepOutOfServiceEffect). */
  outOfService?: OutOfServiceEffect;
  /** Static role in the drain; exec and k8s.setReadiness steps derive theirs (see stepRole). */
  role?: StepRole;
  defaultTimeoutMs(step: S, timing: BalancerTiming): number;
  /** How often a waiting step is re-checked, unless the step runner asks for a specific time. */
  recheckIntervalMs(timing: BalancerTiming): number;
}

/** Slack on top of computed waits: check duration jitter, worker scheduling, a slow admin API. */
const MARGIN_MS = 5_000;
const EXEC_TIMEOUT_MS = 60_000;
/** Kubernetes' default terminationGracePeriodSeconds. */
export const DEFAULT_POD_GRACE_MS = 30_000;
/**
 * Pulling an image, starting the container and passing its readiness probes: Kubernetes' own
 * progressDeadlineSeconds is 600 s; half of it is already a very slow start.
 */
const POD_START_TIMEOUT_MS = 300_000;
const APPROVAL_TIMEOUT_MS = 24 * 3_600_000;

/** Poll the balancer a few times per health-check interval, without hammering it. */
function balancerPoll(timing: BalancerTiming): number {
  return clamp(Math.round(timing.healthCheckIntervalMs / 10), 50, 1_000);
}
const once = () => 1_000;

export const STEP_TYPES: { readonly [K in StepType]: StepTypeInfo<StepOf<K>> } = {
  exec: {
    type: "exec",
    summary: "run a command on the target through its executor (argv or /bin/sh script, params as env)",
    idempotent: false,
    waits: false,
    verify: "exit code in expectExit; a stop counts only when the process really exited with nothing pending",
    defaultTimeoutMs: () => EXEC_TIMEOUT_MS,
    recheckIntervalMs: once,
  },
  "balancer.awaitUnbound": {
    type: "balancer.awaitUnbound",
    summary: "wait until the balancer itself reports the target failed or disabled (unbound)",
    idempotent: true,
    waits: true,
    verify: "balancer observation: bound = false",
    outOfService: "observesOut",
    defaultTimeoutMs: (_step, timing) => detectionWindowMs(timing).maxMs + MARGIN_MS,
    recheckIntervalMs: balancerPoll,
  },
  "balancer.awaitBound": {
    type: "balancer.awaitBound",
    summary: "wait until the balancer reports the target bound again",
    idempotent: true,
    waits: true,
    verify: "balancer observation: bound = true",
    outOfService: "observesIn",
    defaultTimeoutMs: (_step, timing) => bringUpWindowMs(timing).maxMs + MARGIN_MS,
    recheckIntervalMs: balancerPoll,
  },
  "balancer.disable": {
    type: "balancer.disable",
    summary: "take the target out through the balancer's admin API (existing sessions keep flowing)",
    idempotent: true,
    waits: false,
    verify: "balancer observation: state = disabled",
    outOfService: "takesOut",
    role: "out-of-service",
    defaultTimeoutMs: () => 30_000,
    recheckIntervalMs: once,
  },
  "balancer.enable": {
    type: "balancer.enable",
    summary: "put the target back through the balancer's admin API",
    idempotent: true,
    waits: false,
    verify: "balancer observation: state is no longer disabled",
    outOfService: "bringsIn",
    role: "in",
    defaultTimeoutMs: () => 30_000,
    recheckIntervalMs: once,
  },
  "traffic.awaitQuiet": {
    type: "traffic.awaitQuiet",
    summary: "wait until no new sessions arrive for holdFor; report who is still sending meanwhile",
    idempotent: true,
    waits: true,
    verify: "traffic samples: newSessions <= maxNewSessions over a continuous holdFor window",
    // Keep-alive clients may keep a session alive up to the balancer's aging time.
    defaultTimeoutMs: (step, timing) => step.holdFor + timing.sessionIdleTimeoutMs + MARGIN_MS,
    recheckIntervalMs: (timing) => clamp(Math.round(timing.healthCheckIntervalMs / 10), 50, 500),
  },
  "http.check": {
    type: "http.check",
    summary: "probe a URL on the target or through the VIP (status, body)",
    idempotent: true,
    waits: true,
    verify: "response status = expectStatus and body includes bodyIncludes, within retries",
    defaultTimeoutMs: (step) => (step.retries + 1) * 10_000,
    recheckIntervalMs: once,
  },
  approval: {
    type: "approval",
    summary: "a manual gate, released from the dashboard or the API",
    idempotent: true,
    waits: false,
    verify: "an approve event from an authorised user",
    defaultTimeoutMs: () => APPROVAL_TIMEOUT_MS,
    recheckIntervalMs: once,
  },
  "k8s.setReadiness": {
    type: "k8s.setReadiness",
    summary:
      "take the pod out of its Services while it keeps running (readiness gate False, or the selector-label flip), or put it back",
    idempotent: true,
    waits: false,
    verify: "the pod read back: gate condition (or label) as asked, same pod uid",
    defaultTimeoutMs: () => 30_000,
    recheckIntervalMs: once,
  },
  "k8s.awaitEndpointRemoved": {
    type: "k8s.awaitEndpointRemoved",
    summary:
      "wait until the pod's endpoint is not ready in the Service's EndpointSlices, then the fleet's propagation window",
    idempotent: true,
    waits: true,
    verify:
      "EndpointSlices: endpoint not ready; then propagationWindow since the removal the cluster recorded",
    outOfService: "observesOut",
    // The gate flips Ready at once and the EndpointSlice controller follows within moments; the window is
    // the proxies' lag, known from the fleet.
    defaultTimeoutMs: (_step, timing) => (timing.propagationWindowMs ?? 0) + 30_000,
    recheckIntervalMs: balancerPoll,
  },
  "k8s.deletePod": {
    type: "k8s.deletePod",
    summary:
      "set the workload's template to the version, delete the pod with its grace period (preStop, SIGTERM, SIGKILL at the deadline), wait until that pod is gone",
    idempotent: true,
    waits: true,
    verify: "that pod uid is gone from the API (a replacement of the same name does not count)",
    outOfService: "takesOut",
    role: "stop",
    defaultTimeoutMs: (step) => (step.gracePeriod ?? DEFAULT_POD_GRACE_MS) + 60_000,
    recheckIntervalMs: balancerPoll,
  },
  "k8s.awaitReplacementReady": {
    type: "k8s.awaitReplacementReady",
    summary:
      "wait until the pod's replacement runs the version, is Ready, and is ready in the Service's EndpointSlices",
    idempotent: true,
    waits: true,
    verify: "pod of that name at the version, Ready condition True, endpoint ready in the EndpointSlices",
    outOfService: "observesIn",
    role: "deploy",
    defaultTimeoutMs: () => POD_START_TIMEOUT_MS,
    recheckIntervalMs: balancerPoll,
  },
  analysis: {
    type: "analysis",
    summary:
      "watch the target on the new version for a window; fail it when its 5xx share, latency or a PromQL value crosses the threshold",
    idempotent: true,
    waits: true,
    verify: "the source read at every interval: no threshold crossed, enough data, over the whole window",
    defaultTimeoutMs: (step) => step.window + MARGIN_MS,
    recheckIntervalMs: once,
  },
  sleep: {
    type: "sleep",
    summary: "wait a fixed time (flagged by the preflight wherever a state could be observed instead)",
    idempotent: true,
    waits: true,
    verify: "the time has passed",
    defaultTimeoutMs: (step) => step.duration + MARGIN_MS,
    recheckIntervalMs: once,
  },
};

/** The registry entry typed for this very step (the mapped type guarantees the match). */
export function stepTypeInfo<S extends Step>(step: S): StepTypeInfo<S> {
  return STEP_TYPES[step.type as StepType] as unknown as StepTypeInfo<S>;
}

export function resolveStepTimeoutMs(step: Step, timing: BalancerTiming): number {
  return step.timeout ?? stepTypeInfo(step).defaultTimeoutMs(step, timing);
}

export function isStepIdempotent(step: Step): boolean {
  return step.type === "exec" ? step.idempotent : stepTypeInfo(step).idempotent;
}

export function stepOutOfServiceEffect(step: Step): OutOfServiceEffect | undefined {
  switch (step.type) {
    case "exec": {
      const kind = execKind(step);
      if (kind === "stop" || kind === "health-fail") return "takesOut";
      if (kind === "start" || kind === "health-restore") return "bringsIn";
      return undefined;
    }
    case "balancer.awaitUnbound":
    case "balancer.awaitBound":
    case "balancer.disable":
    case "balancer.enable":
    case "traffic.awaitQuiet":
    case "http.check":
    case "approval":
    case "sleep":
    case "analysis":
    case "k8s.awaitEndpointRemoved":
    case "k8s.deletePod":
    case "k8s.awaitReplacementReady":
      return STEP_TYPES[step.type].outOfService;
    case "k8s.setReadiness":
      return step.ready ? "bringsIn" : "takesOut";
    default:
      return assertNever(step, "step type");
  }
}

export function stepRole(step: Step): StepRole | undefined {
  switch (step.type) {
    case "exec": {
      const kind = execKind(step);
      if (kind === "health-fail") return "out-of-service";
      if (kind === "health-restore") return "in";
      return kind;
    }
    case "k8s.setReadiness":
      return step.ready ? "in" : "out-of-service";
    case "balancer.awaitUnbound":
    case "balancer.awaitBound":
    case "balancer.disable":
    case "balancer.enable":
    case "traffic.awaitQuiet":
    case "http.check":
    case "approval":
    case "sleep":
    case "analysis":
    case "k8s.awaitEndpointRemoved":
    case "k8s.deletePod":
    case "k8s.awaitReplacementReady":
      return STEP_TYPES[step.type].role;
    default:
      return assertNever(step, "step type");
  }
}

/** One line for logs and the dashboard. Never includes parameter values. */
export function describeStep(step: Step): string {
  const label = step.name ?? step.id;
  switch (step.type) {
    case "exec":
      return `${label}: ${step.run !== undefined ? commandText(step) : "script"}`;
    case "balancer.awaitUnbound":
      return `${label}: await unbound`;
    case "balancer.awaitBound":
      return `${label}: await bound`;
    case "balancer.disable":
      return `${label}: disable in balancer`;
    case "balancer.enable":
      return `${label}: enable in balancer`;
    case "traffic.awaitQuiet":
      return `${label}: await quiet for ${step.holdFor} ms`;
    case "http.check":
      return `${label}: GET ${step.url ?? (step.via === "vip" ? "<vip>/" : "<target>/")} -> ${step.expectStatus}`;
    case "approval":
      return `${label}: approval${step.message === undefined ? "" : ` (${step.message})`}`;
    case "sleep":
      return `${label}: sleep ${step.duration} ms`;
    case "analysis":
      return `${label}: analysis of ${step.source} for ${step.window} ms`;
    case "k8s.setReadiness":
      return `${label}: ${step.ready ? "put the pod back in its Services" : "take the pod out of its Services"}`;
    case "k8s.awaitEndpointRemoved":
      return `${label}: await endpoint removed and propagated`;
    case "k8s.deletePod":
      return `${label}: delete the pod${step.gracePeriod === undefined ? "" : ` (grace ${step.gracePeriod} ms)`}`;
    case "k8s.awaitReplacementReady":
      return `${label}: await the replacement ready in the endpoints`;
    default:
      return assertNever(step, "step type");
  }
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}
