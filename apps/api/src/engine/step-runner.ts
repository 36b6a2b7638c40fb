import {
  assertNever,
  type Balancer,
  boundCondition,
  buildCommandEnv,
  type ConditionResult,
  commandSpecFor,
  EbbError,
  type ExecResult,
  type Executor,
  endpointRemovedCondition,
  execEnvTemplates,
  execSucceeded,
  type Observation,
  quietCondition,
  quietMeansNoNewSessions,
  type Runbook,
  redact,
  renderTemplate,
  replacementReadyCondition,
  type Step,
  type StepError,
  type StepOf,
  sleepCondition,
  type Target,
  unboundCondition,
} from "@ebb/core";
import { LazyKubernetesBalancer } from "@ebb/drivers";
// Types only: the driver (and @kubernetes/client-node) loads when a Kubernetes fleet is used, not before.
import type { KubernetesFleet } from "@ebb/drivers/kubernetes";

/** Everything one step run needs; loaded by the engine from the database for each job. */
export interface StepContext {
  rolloutId: string;
  version: string;
  /** Resolved runbook parameters (without `version`). */
  params: Record<string, string>;
  /** Values to mask in anything stored or shown. */
  secrets: string[];
  runbook: Runbook;
  step: Step;
  target: Target;
  balancer: Balancer;
  executor: Executor;
  /** The fleet's VIP, for http.check `via: vip`. */
  vipUrl?: string;
  /** What this step observed at its previous check (waiting steps carry their progress here). */
  previous?: Observation;
  stepStartedAt: number;
  deadlineAtMs: number;
  now: () => number;
}

export type StepOutcome =
  | { kind: "succeeded"; observation: Observation; outputTail?: string }
  | { kind: "failed"; error: StepError; observation: Observation; outputTail?: string }
  | { kind: "waiting"; observation: Observation; recheckAtMs?: number };

/** Runs (or checks) one step once. Waiting steps return `waiting` and are checked again later. */
export async function runStep(ctx: StepContext): Promise<StepOutcome> {
  const { step } = ctx;
  switch (step.type) {
    case "exec":
      return runExec(ctx, step);
    case "balancer.awaitUnbound":
      return fromCondition(unboundCondition(await ctx.balancer.observe(ctx.target)));
    case "balancer.awaitBound":
      return fromCondition(boundCondition(await ctx.balancer.observe(ctx.target)));
    case "balancer.disable":
    case "balancer.enable": {
      const act = step.type === "balancer.disable" ? ctx.balancer.disable : ctx.balancer.enable;
      if (!act)
        return failed("step_failed", `the ${ctx.balancer.kind} balancer has no admin API for ${step.type}`);
      await act.call(ctx.balancer, ctx.target);
      const o = await ctx.balancer.observe(ctx.target);
      return { kind: "succeeded", observation: { state: o.state, bound: o.bound, sessions: o.sessions } };
    }
    case "traffic.awaitQuiet": {
      const sample = await ctx.balancer.traffic(ctx.target);
      return fromCondition(
        quietCondition({
          sample,
          previous: ctx.previous,
          holdForMs: step.holdFor,
          maxNewSessions: step.maxNewSessions,
          newSessionsOnly: step.newSessionsOnly ?? quietMeansNoNewSessions(ctx.balancer.kind),
          now: ctx.now(),
        }),
      );
    }
    case "http.check":
      return runHttpCheck(ctx, step);
    case "sleep":
      return fromCondition(sleepCondition(ctx.stepStartedAt, step.duration, ctx.now()));
    case "approval":
      // Approval gates are held by the state machine (awaitApproval); a job never runs them.
      return failed("internal", "approval steps are released by an operator, not run");
    case "k8s.setReadiness": {
      const r = await (await kubernetesFleet(ctx, step)).setReadiness(ctx.target.name, step.ready);
      return {
        kind: "succeeded",
        observation: {
          method: r.method,
          changed: r.changed,
          uid: r.pod.uid,
          gate: r.pod.gate,
          ready: r.pod.ready,
        },
      };
    }
    case "k8s.awaitEndpointRemoved": {
      const fleet = await kubernetesFleet(ctx, step);
      const seen = typeof ctx.previous?.removedAt === "number" ? { observedAt: ctx.previous.removedAt } : {};
      const r = await fleet.checkEndpointRemoved(ctx.target.name, seen);
      const reading =
        r.removedAt === undefined ? { removed: r.removed } : { removed: r.removed, removedAt: r.removedAt };
      return fromCondition(
        endpointRemovedCondition(reading, ctx.previous, fleet.config.propagationWindowMs, ctx.now()),
      );
    }
    case "k8s.deletePod":
      return runDeletePod(ctx, step);
    case "k8s.awaitReplacementReady": {
      const r = await (await kubernetesFleet(ctx, step)).checkReplacementReady(ctx.target.name, ctx.version);
      return fromCondition(
        replacementReadyCondition({
          ready: r.ready,
          reason: r.reason,
          ...(r.pod ? { uid: r.pod.uid, version: r.pod.version } : {}),
        }),
      );
    }
    default:
      return assertNever(step, "step");
  }
}

/** The fleet's Kubernetes driver, loaded on first use; any other balancer cannot run a k8s.* step. */
async function kubernetesFleet(ctx: Pick<StepContext, "balancer">, step: Step): Promise<KubernetesFleet> {
  if (ctx.balancer instanceof LazyKubernetesBalancer) return ctx.balancer.fleet();
  throw new EbbError(
    "step_failed",
    `${step.id}: ${step.type} needs a fleet behind a kubernetes balancer; this one is behind ${ctx.balancer.kind}`,
  );
}

/**
 * k8s.deletePod without holding a worker: the first check points the workload's template at the version
 * (so the OnDelete replacement runs it) and issues the delete; later checks only look whether that pod (by
 * uid) is gone. Run again after a crash lost the uid, it finds the pod terminating (waits for it), gone, or
 * replaced since the step started (done), and never deletes the replacement.
 */
async function runDeletePod(ctx: StepContext, step: StepOf<"k8s.deletePod">): Promise<StepOutcome> {
  const fleet = await kubernetesFleet(ctx, step);
  const name = ctx.target.name;
  const uid = typeof ctx.previous?.uid === "string" ? ctx.previous.uid : undefined;
  if (uid !== undefined) {
    const observation = { ...ctx.previous, uid };
    return (await fleet.checkPodGone(name, uid))
      ? { kind: "succeeded", observation: { ...observation, outcome: "deleted" } }
      : { kind: "waiting", observation };
  }
  const { revision } = await fleet.setTemplateVersion(ctx.version);
  // Runbook durations are real time; the API's grace period is in the cluster's own (scaled in the lab).
  const graceSeconds =
    step.gracePeriod === undefined
      ? undefined
      : Math.max(0, Math.ceil(step.gracePeriod / 1000 / fleet.config.timeScale));
  const r = await fleet.deletePod(name, {
    wait: false,
    since: ctx.stepStartedAt,
    allowInService: step.allowInService,
    ...(graceSeconds === undefined ? {} : { graceSeconds }),
  });
  const observation = { outcome: r.outcome, uid: r.uid ?? null, revision };
  return r.outcome === "deleting" ? { kind: "waiting", observation } : { kind: "succeeded", observation };
}

/**
 * Brings an aborted pod back into its Services on whatever version it runs (see KubernetesFleet.restore).
 * Holds its worker slot while it waits, as a VM's restore does: aborts are rare.
 */
export async function restorePod(
  balancer: Balancer,
  target: Target,
  timeoutMs = 120_000,
): Promise<{ ok: boolean; error?: StepError }> {
  if (!(balancer instanceof LazyKubernetesBalancer))
    return { ok: false, error: { code: "internal", message: `restore: ${target.name} is not a pod` } };
  try {
    await (await balancer.fleet()).restore(target.name, { timeoutMs });
    return { ok: true };
  } catch (err) {
    return {
      ok: false,
      error: { code: "target_unhealthy", message: `restore: ${target.name}: ${(err as Error).message}` },
    };
  }
}

function fromCondition(c: ConditionResult): StepOutcome {
  if (c.met) return { kind: "succeeded", observation: c.observation };
  return c.recheckAtMs === undefined
    ? { kind: "waiting", observation: c.observation }
    : { kind: "waiting", observation: c.observation, recheckAtMs: c.recheckAtMs };
}

function failed(code: StepError["code"], message: string, observation: Observation = {}): StepOutcome {
  return { kind: "failed", error: { code, message }, observation };
}

/** What running one exec step needs, from a step run or from a restore. */
export type ExecContext = Pick<
  StepContext,
  "rolloutId" | "version" | "params" | "secrets" | "runbook" | "target" | "executor"
>;

/** Runs an exec step's command with its environment (parameters as variables only), output redacted. */
export async function execCommand(
  ctx: ExecContext,
  step: Extract<Step, { type: "exec" }>,
  deadlineMs: number,
): Promise<{ ok: boolean; result: ExecResult; outputTail: string }> {
  const env = buildCommandEnv({
    rolloutId: ctx.rolloutId,
    version: ctx.version,
    target: { name: ctx.target.name, host: ctx.target.host, port: ctx.target.port },
    params: ctx.params,
    env: execEnvTemplates(ctx.runbook, step),
  });
  const result = await ctx.executor.run(commandSpecFor(step, env, Math.max(1, deadlineMs)));
  return { ok: execSucceeded(step, result), result, outputTail: redact(result.outputTail, ctx.secrets) };
}

async function runExec(ctx: StepContext, step: Extract<Step, { type: "exec" }>): Promise<StepOutcome> {
  const { ok, result, outputTail } = await execCommand(ctx, step, ctx.deadlineAtMs - ctx.now());
  const observation = {
    exitCode: result.exitCode,
    signal: result.signal,
    timedOut: result.timedOut,
    durationMs: result.durationMs,
  };
  if (ok) return { kind: "succeeded", observation, outputTail };
  const lastLine = outputTail.trim().split("\n").at(-1) ?? "";
  const why = result.timedOut
    ? `timed out after ${result.durationMs} ms`
    : result.exitCode === null
      ? `killed by ${result.signal ?? "a signal"}`
      : `exit code ${result.exitCode}`;
  return {
    kind: "failed",
    error: {
      code: result.timedOut ? "step_timeout" : "exec_failed",
      message: `${step.id} on ${ctx.target.name}: ${why}${lastLine ? `: ${lastLine}` : ""}`,
    },
    observation,
    outputTail,
  };
}

async function runHttpCheck(
  ctx: StepContext,
  step: Extract<Step, { type: "http.check" }>,
): Promise<StepOutcome> {
  // A pod's address is whatever its current incarnation got: the replacement may have a new IP.
  const pod =
    ctx.balancer instanceof LazyKubernetesBalancer
      ? await (await ctx.balancer.fleet()).pod(ctx.target.name)
      : null;
  const target = pod?.host ? { ...ctx.target, host: pod.host } : ctx.target;
  const template = { params: { ...ctx.params, version: ctx.version }, target };
  const url =
    step.url !== undefined
      ? renderTemplate(step.url, template)
      : step.via === "vip"
        ? requireVip(ctx)
        : `http://${target.host}:${target.port}/`;
  const expectBody =
    step.bodyIncludes === undefined ? undefined : renderTemplate(step.bodyIncludes, template);
  const probes = typeof ctx.previous?.probes === "number" ? ctx.previous.probes + 1 : 1;
  let problem: string;
  try {
    const res = await fetch(url, {
      signal: AbortSignal.timeout(Math.max(1, Math.min(5_000, ctx.deadlineAtMs - ctx.now()))),
    });
    const body = await res.text();
    if (res.status !== step.expectStatus) problem = `status ${res.status}, expected ${step.expectStatus}`;
    else if (expectBody !== undefined && !body.includes(expectBody))
      problem = `body does not include "${expectBody}"`;
    else return { kind: "succeeded", observation: { url, status: res.status, probes } };
  } catch (err) {
    problem = (err as Error).message;
  }
  const observation = { url, probes, problem };
  if (probes <= step.retries) return { kind: "waiting", observation, recheckAtMs: ctx.now() + 250 };
  return failed("verify_failed", `${step.id} on ${ctx.target.name}: ${url}: ${problem}`, observation);
}

function requireVip(ctx: StepContext): string {
  if (!ctx.vipUrl)
    throw new EbbError("verify_failed", "http.check via: vip, but the fleet has no VIP configured");
  return `${ctx.vipUrl}/`;
}
