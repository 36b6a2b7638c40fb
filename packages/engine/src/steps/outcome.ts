import type { ConditionResult, Observation, StepError } from "@ebb/core";

export type StepOutcome =
  | { kind: "succeeded"; observation: Observation; outputTail?: string }
  | { kind: "failed"; error: StepError; observation: Observation; outputTail?: string }
  | { kind: "waiting"; observation: Observation; recheckAtMs?: number };

export function fromCondition(c: ConditionResult): StepOutcome {
  if (c.met) return { kind: "succeeded", observation: c.observation };
  return c.recheckAtMs === undefined
    ? { kind: "waiting", observation: c.observation }
    : { kind: "waiting", observation: c.observation, recheckAtMs: c.recheckAtMs };
}

export function failed(code: StepError["code"], message: string, observation: Observation = {}): StepOutcome {
  return { kind: "failed", error: { code, message }, observation };
}
