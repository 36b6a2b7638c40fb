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
  execEnvTemplates,
  execSucceeded,
  type Observation,
  quietCondition,
  type Runbook,
  redact,
  renderTemplate,
  type Step,
  type StepError,
  sleepCondition,
  type Target,
  unboundCondition,
} from "@ebb/core";

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
    default:
      return assertNever(step, "step");
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
  const template = { params: { ...ctx.params, version: ctx.version }, target: ctx.target };
  const url =
    step.url !== undefined
      ? renderTemplate(step.url, template)
      : step.via === "vip"
        ? requireVip(ctx)
        : `http://${ctx.target.host}:${ctx.target.port}/`;
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
