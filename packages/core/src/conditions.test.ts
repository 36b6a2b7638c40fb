import { describe, expect, it } from "vitest";
import { boundCondition, quietCondition, sleepCondition, unboundCondition } from "./conditions.js";

const obs = (state: "up" | "suspect" | "failed" | "disabled", bound: boolean) => ({
  state,
  bound,
  sessions: 2,
});
const sample = (activeSessions: number, newSessions: number) => ({
  at: "2026-01-01T00:00:00.000Z",
  activeSessions,
  newSessions,
  resets: 0,
});

describe("conditions", () => {
  it("unbound is met only once the balancer stops sending new flows, whatever the sessions", () => {
    expect(unboundCondition(obs("suspect", true)).met).toBe(false);
    expect(unboundCondition(obs("failed", false)).met).toBe(true);
    expect(unboundCondition(obs("disabled", false)).met).toBe(true);
  });

  it("bound needs up, not merely bound", () => {
    expect(boundCondition(obs("suspect", true)).met).toBe(false);
    expect(boundCondition(obs("up", true)).met).toBe(true);
    expect(boundCondition(obs("failed", false)).met).toBe(false);
  });

  it("quiet starts a spell, holds it across checks, and breaks it on new traffic", () => {
    const first = quietCondition({
      sample: sample(0, 0),
      previous: undefined,
      holdForMs: 500,
      maxNewSessions: 0,
      now: 1000,
    });
    expect(first).toMatchObject({ met: false, recheckAtMs: 1500, observation: { quietSinceMs: 1000 } });
    const held = quietCondition({
      sample: sample(0, 0),
      previous: first.observation,
      holdForMs: 500,
      maxNewSessions: 0,
      now: 1500,
    });
    expect(held.met).toBe(true);
    const broken = quietCondition({
      sample: sample(1, 0),
      previous: first.observation,
      holdForMs: 500,
      maxNewSessions: 0,
      now: 1500,
    });
    expect(broken).toMatchObject({ met: false, observation: { quietSinceMs: null } });
    expect(
      quietCondition({ sample: sample(0, 3), previous: undefined, holdForMs: 0, maxNewSessions: 0, now: 1 })
        .met,
    ).toBe(false);
    expect(
      quietCondition({ sample: sample(0, 0), previous: undefined, holdForMs: 0, maxNewSessions: 0, now: 1 })
        .met,
    ).toBe(true);
  });

  it("sleep ends at start + duration", () => {
    expect(sleepCondition(1000, 200, 1100)).toMatchObject({ met: false, recheckAtMs: 1200 });
    expect(sleepCondition(1000, 200, 1200).met).toBe(true);
  });
});
