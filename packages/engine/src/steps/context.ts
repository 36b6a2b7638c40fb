import type { Balancer, Executor, Observation, Runbook, Step, Target } from "@ebb/core";

/** Everything one step run needs; loaded by the engine for each job. */
export interface StepContext {
  rolloutId: string;
  version: string;
  /** The plan's maxSurge: replacements a k8s.setReadiness take-out may start early (absent or 0: none). */
  maxSurge?: number;
  /** Resolved runbook parameters (without `version`). */
  params: Record<string, string>;
  /** Values to mask in anything stored or shown. */
  secrets: string[];
  runbook: Runbook;
  /** The fleet's stored settings (the analysis step reads `balancerConfig.prometheusUrl`). */
  fleet?: { name: string; balancerConfig: unknown };
  step: Step;
  target: Target;
  balancer: Balancer;
  executor: Executor;
  /** What this step observed at its previous check (waiting steps carry their progress here). */
  previous?: Observation;
  stepStartedAt: number;
  deadlineAtMs: number;
  /** The balancer's own poll interval for this step (a recheck when an action is not observed yet). */
  recheckMs: number;
  now: () => number;
}
