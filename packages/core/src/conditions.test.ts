import { describe, expect, it } from "vitest";
import {
  boundCondition,
  endpointRemovedCondition,
  quietCondition,
  replacementReadyCondition,
  sleepCondition,
  unboundCondition,
} from "./conditions.js";
import { quietMeansNoNewSessions } from "./facts.js";

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

  it("quiet for a pod: established keep-alive connections stay, only new sessions break the spell", () => {
    expect(quietMeansNoNewSessions("kubernetes")).toBe(true);
    expect(quietMeansNoNewSessions("l4")).toBe(false);
    const input = { previous: undefined, holdForMs: 0, maxNewSessions: 0, now: 1, newSessionsOnly: true };
    expect(quietCondition({ ...input, sample: sample(5, 0) }).met).toBe(true);
    expect(quietCondition({ ...input, sample: sample(5, 1) }).met).toBe(false);
    // The observation still says who is connected.
    expect(quietCondition({ ...input, sample: sample(5, 0) }).observation).toMatchObject({
      activeSessions: 5,
    });
  });

  it("endpoint removed: not before the propagation window has passed since the removal the cluster recorded", () => {
    expect(endpointRemovedCondition({ removed: false }, undefined, 2_000, 1_000)).toEqual({
      met: false,
      observation: { removed: false },
    });
    const waiting = endpointRemovedCondition({ removed: true, removedAt: 1_000 }, undefined, 2_000, 1_500);
    expect(waiting).toEqual({
      met: false,
      observation: { removed: true, removedAt: 1_000, propagatedAt: 3_000 },
      recheckAtMs: 3_000,
    });
    // The same observation on every re-check until the end: nothing is written meanwhile.
    const again = endpointRemovedCondition(
      { removed: true, removedAt: 1_000 },
      waiting.observation,
      2_000,
      2_999,
    );
    expect(again.observation).toEqual(waiting.observation);
    expect(endpointRemovedCondition({ removed: true, removedAt: 1_000 }, undefined, 2_000, 3_000).met).toBe(
      true,
    );
    // The cluster recorded no time (the pod is gone): the first check that saw it removed counts.
    const first = endpointRemovedCondition({ removed: true }, undefined, 2_000, 5_000);
    expect(first.observation).toMatchObject({ removedAt: 5_000 });
    expect(endpointRemovedCondition({ removed: true }, first.observation, 2_000, 6_000).met).toBe(false);
    expect(endpointRemovedCondition({ removed: true }, first.observation, 2_000, 7_000).met).toBe(true);
  });

  it("replacement ready only when the driver found it ready", () => {
    expect(replacementReadyCondition({ ready: false, reason: "not Ready yet" })).toEqual({
      met: false,
      observation: { ready: false, reason: "not Ready yet", uid: null, version: null },
    });
    expect(replacementReadyCondition({ ready: true, reason: "ready", uid: "u2", version: "2.0.0" }).met).toBe(
      true,
    );
  });

  it("sleep ends at start + duration", () => {
    expect(sleepCondition(1000, 200, 1100)).toMatchObject({ met: false, recheckAtMs: 1200 });
    expect(sleepCondition(1000, 200, 1200).met).toBe(true);
  });
});
