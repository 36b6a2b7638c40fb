import { z } from "zod";
import { durationField, envField, positiveDurationField, STEP_ID } from "./fields.js";

/**
 * The step union: one strict zod schema per `type`. Durations are parsed to milliseconds. Templates
 * (`${params.x}`, `${target.host}`) are allowed only where noted; they never reach argv or shell text.
 */

const common = {
  id: z.string().regex(STEP_ID, 'must be lowercase letters, digits and dashes (e.g. "await-unbound")'),
  name: z.string().min(1).optional(),
  /** Deadline for the whole step (all re-checks included). Default: see STEP_TYPES. */
  timeout: durationField.optional(),
  /** `halt` stops the rollout on failure; `continue` records the failure and runs the next step. */
  onFailure: z.enum(["halt", "continue"]).default("halt"),
};

/** What an exec step does to the target, when its command alone does not make it obvious. */
export const EXEC_KINDS = ["stop", "start", "deploy", "health-fail", "health-restore"] as const;
export type ExecKind = (typeof EXEC_KINDS)[number];

export const execStepSchema = z
  .strictObject({
    type: z.literal("exec"),
    ...common,
    /** argv, executed without a shell. */
    run: z.array(z.string().min(1)).min(1).optional(),
    /** Run by `/bin/sh -c`; parameters are available ONLY as environment variables ("$EBB_VERSION"). */
    script: z.string().min(1).optional(),
    /** Values may reference `${params.x}` and `${target.name|host|port}`. */
    env: envField.optional(),
    expectExit: z.array(z.number().int().min(0).max(255)).min(1).default([0]),
    kind: z.enum(EXEC_KINDS).optional(),
    /** The command may be run again after a crash left its outcome unknown. */
    idempotent: z.boolean().default(false),
    /**
     * For a command that is not idempotent: a command (argv or script, same environment) that exits 0 when
     * the step's effect is in place. After a crash left the command's outcome unknown, Ebb runs this
     * instead of the command: 0 counts the step as done, anything else stops and asks a person.
     */
    verify: z
      .strictObject({
        run: z.array(z.string().min(1)).min(1).optional(),
        script: z.string().min(1).optional(),
      })
      .refine((v) => (v.run === undefined) !== (v.script === undefined), "give either `run` or `script`")
      .optional(),
  })
  .superRefine((step, ctx) => {
    if (step.run === undefined && step.script === undefined) {
      ctx.addIssue({ code: "custom", path: ["run"], message: "exec needs `run` (argv) or `script`" });
    }
    if (step.run !== undefined && step.script !== undefined) {
      ctx.addIssue({ code: "custom", path: ["script"], message: "give either `run` or `script`, not both" });
    }
  });

export const awaitUnboundStepSchema = z.strictObject({ type: z.literal("balancer.awaitUnbound"), ...common });
export const awaitBoundStepSchema = z.strictObject({ type: z.literal("balancer.awaitBound"), ...common });
export const disableStepSchema = z.strictObject({ type: z.literal("balancer.disable"), ...common });
export const enableStepSchema = z.strictObject({ type: z.literal("balancer.enable"), ...common });

export const awaitQuietStepSchema = z.strictObject({
  type: z.literal("traffic.awaitQuiet"),
  ...common,
  /**
   * No session left and no new one for this long counts as quiet. 0: quiet as soon as the balancer holds no
   * session for the target and saw none open since the previous check.
   */
  holdFor: durationField.default(2_000),
  maxNewSessions: z.number().int().min(0).default(0),
  /**
   * Hold on new sessions only and let established ones stay (they end when the target stops). Default: by
   * balancer (true for kubernetes, where kube-proxy keeps a connection on its pod; false otherwise).
   */
  newSessionsOnly: z.boolean().optional(),
});

export const httpCheckStepSchema = z.strictObject({
  type: z.literal("http.check"),
  ...common,
  /**
   * May reference `${target.host}` etc. Default: `http://${target.host}:${target.port}/` with
   * `via: target`, the balancer's VIP with `via: vip`.
   */
  url: z.string().min(1).optional(),
  via: z.enum(["target", "vip"]).default("target"),
  expectStatus: z.number().int().min(100).max(599).default(200),
  /** May reference `${params.version}`. */
  bodyIncludes: z.string().min(1).optional(),
  /** Further attempts after a failed probe before the step fails. */
  retries: z.number().int().min(0).max(100).default(2),
});

export const approvalStepSchema = z.strictObject({
  type: z.literal("approval"),
  ...common,
  message: z.string().min(1).optional(),
  /** Only someone other than the rollout's requester (another user) may release this gate. */
  fourEyes: z.boolean().optional(),
});

export const sleepStepSchema = z.strictObject({
  type: z.literal("sleep"),
  ...common,
  duration: positiveDurationField,
});

/**
 * Watches the target, back in service on the new version, for `window` and fails it when it does worse than
 * the thresholds: a bad release stops the rollout after its first batch. `counters`: the target's own
 * `/metrics` (Prometheus text: `http_requests_total{code}`, `http_request_duration_seconds` histogram), read
 * at the start and at every check. `prometheus`: a PromQL `query` against the Prometheus the fleet names
 * (`balancerConfig.prometheusUrl`), evaluated at every check.
 */
export const analysisStepSchema = z
  .strictObject({
    type: z.literal("analysis"),
    ...common,
    window: positiveDurationField,
    /** How often the source is read; a breach fails the step at once, a pass needs the whole window. */
    interval: positiveDurationField.default(1_000),
    source: z.enum(["counters", "prometheus"]).default("counters"),
    /** counters: the most 5xx answers may be of all requests in the window (0.05 = 5%). */
    maxErrorRatio: z.number().min(0).max(1).optional(),
    /** counters: the most the `latencyQuantile` of the window's requests may take. */
    maxLatencyMs: z.number().positive().optional(),
    latencyQuantile: z.number().gt(0).lt(1).default(0.99),
    /** counters: fewer requests than this in the window judge nothing (see `whenInconclusive`). */
    minRequests: z.number().int().min(1).default(10),
    /** counters: where the target serves its metrics. */
    metricsPath: z
      .string()
      .regex(/^\/[^\s?#]*$/, "must be a path like /metrics")
      .default("/metrics"),
    /** prometheus: PromQL giving one number; may reference `${target.host|port|name}`, `${params.version}`. */
    query: z.string().min(1).optional(),
    /** prometheus: the value that must not be crossed. */
    threshold: z.number().optional(),
    /** prometheus: which side of `threshold` fails the target. */
    failWhen: z.enum(["above", "below"]).default("above"),
    /** Not enough requests (counters) or no data at all (prometheus) in the window: fail (default) or pass. */
    whenInconclusive: z.enum(["fail", "pass"]).default("fail"),
  })
  .superRefine((step, ctx) => {
    const counters = ["maxErrorRatio", "maxLatencyMs"] as const;
    const prometheus = ["query", "threshold"] as const;
    if (step.source === "counters") {
      if (step.maxErrorRatio === undefined && step.maxLatencyMs === undefined)
        ctx.addIssue({
          code: "custom",
          path: ["maxErrorRatio"],
          message: "source counters needs maxErrorRatio and/or maxLatencyMs",
        });
      for (const f of prometheus)
        if (step[f] !== undefined)
          ctx.addIssue({ code: "custom", path: [f], message: `${f} applies to source: prometheus` });
    } else {
      for (const f of prometheus)
        if (step[f] === undefined)
          ctx.addIssue({ code: "custom", path: [f], message: `source prometheus needs ${f}` });
      for (const f of counters)
        if (step[f] !== undefined)
          ctx.addIssue({ code: "custom", path: [f], message: `${f} applies to source: counters` });
    }
    if (step.interval > step.window)
      ctx.addIssue({ code: "custom", path: ["interval"], message: "must not be longer than window" });
  });

/**
 * The pod form of the drain (balancer `kubernetes`). A target is a pod of the fleet's workload, by name; the
 * fleet's balancerConfig says which workload, Service and namespace, and how long proxies lag.
 */
export const k8sSetReadinessStepSchema = z.strictObject({
  type: z.literal("k8s.setReadiness"),
  ...common,
  /**
   * false (default): take the pod out of its Services while it keeps running (Ebb's readiness gate False,
   * or the selector-label flip for pods without the gate). true: put it back.
   */
  ready: z.boolean().default(false),
});

export const k8sAwaitEndpointRemovedStepSchema = z.strictObject({
  type: z.literal("k8s.awaitEndpointRemoved"),
  ...common,
});

export const k8sDeletePodStepSchema = z.strictObject({
  type: z.literal("k8s.deletePod"),
  ...common,
  /** Overrides the pod's terminationGracePeriodSeconds (preStop + SIGTERM, then SIGKILL). */
  gracePeriod: durationField.optional(),
  /**
   * Delete a pod that is still in its Services (what a plain `kubectl delete` does). Off by default: the
   * step refuses a pod that was not taken out first, since proxies still route to it.
   */
  allowInService: z.boolean().default(false),
});

export const k8sAwaitReplacementReadyStepSchema = z.strictObject({
  type: z.literal("k8s.awaitReplacementReady"),
  ...common,
});

export const stepSchema = z.discriminatedUnion("type", [
  execStepSchema,
  awaitUnboundStepSchema,
  awaitBoundStepSchema,
  disableStepSchema,
  enableStepSchema,
  awaitQuietStepSchema,
  httpCheckStepSchema,
  approvalStepSchema,
  sleepStepSchema,
  k8sSetReadinessStepSchema,
  k8sAwaitEndpointRemovedStepSchema,
  k8sDeletePodStepSchema,
  k8sAwaitReplacementReadyStepSchema,
  analysisStepSchema,
]);

export type Step = z.output<typeof stepSchema>;
export type StepInput = z.input<typeof stepSchema>;
export type StepType = Step["type"];
export type StepOf<T extends StepType> = Extract<Step, { type: T }>;
export type ExecStep = StepOf<"exec">;
export type HttpCheckStep = StepOf<"http.check">;
export type AnalysisStep = StepOf<"analysis">;
/** The steps that act on a pod through the fleet's Kubernetes API. */
export type K8sStep = StepOf<
  "k8s.setReadiness" | "k8s.awaitEndpointRemoved" | "k8s.deletePod" | "k8s.awaitReplacementReady"
>;

export function isK8sStep(step: Step): step is K8sStep {
  return step.type.startsWith("k8s.");
}

/** Read from the schema so the list can never drift from the union. */
export const STEP_TYPE_NAMES: readonly StepType[] = stepSchema.options.map((o) => o.shape.type.value);
