import { describe, expect, it } from "vitest";
import { attributeErrors, countBy } from "./attribute.js";
import { parseSoakEnv } from "./env.js";
import { gapSchedule } from "./schedule.js";

describe("soak schedule", () => {
  it("replays the same gaps for a seed, the first rollout without one, a share back to back", () => {
    const opts = { seed: 42, maxGapMs: 10_000, backToBackShare: 0.5 };
    const gaps = gapSchedule(200, opts);
    expect(gapSchedule(200, opts)).toEqual(gaps);
    expect(gaps[0]).toBe(0);
    expect(gaps.every((g) => g >= 0 && g <= 10_000)).toBe(true);
    const zero = gaps.filter((g) => g === 0).length;
    expect(zero).toBeGreaterThan(70);
    expect(zero).toBeLessThan(130);
    expect(gapSchedule(200, { ...opts, seed: 43 })).not.toEqual(gaps);
    expect(gapSchedule(5, { ...opts, backToBackShare: 1 })).toEqual([0, 0, 0, 0, 0]);
  });
});

describe("soak attribution", () => {
  const iso = (ms: number) => new Date(ms).toISOString();
  const rollouts = [
    {
      index: 0,
      id: "r0",
      startedAtMs: 1_000,
      finishedAtMs: 5_000,
      steps: [
        { target: "web-0", step: "delete-pod", startedAt: iso(2_000), finishedAt: iso(3_000) },
        { target: "web-0", step: "await-replacement", startedAt: iso(3_000), finishedAt: iso(4_000) },
        { target: "web-1", step: "take-out", startedAt: iso(4_500), finishedAt: null },
      ],
    },
  ];

  it("ties each error to its rollout, offset and the step runs in flight, or to the time between rollouts", () => {
    const err = (atMs: number) => ({
      atMs,
      kind: "rst" as const,
      message: "socket hang up",
      profile: "steady",
    });
    const out = attributeErrors([err(2_500), err(4_700), err(4_200), err(9_000)], rollouts);
    expect(out.map((e) => [e.rollout, e.offsetMs, e.steps])).toEqual([
      [0, 1_500, ["web-0/delete-pod"]],
      [0, 3_700, ["web-1/take-out"]],
      [0, 3_200, []],
      [null, null, []],
    ]);
    expect(
      countBy(out, (e) => (e.rollout === null ? "between rollouts" : e.steps.join("+") || "between steps")),
    ).toEqual({
      "between rollouts": 1,
      "between steps": 1,
      "web-0/delete-pod": 1,
      "web-1/take-out": 1,
    });
  });
});

describe("soak knobs", () => {
  it("has the long run's defaults and names a bad variable", () => {
    const env = parseSoakEnv({}, () => 0.5);
    expect(env).toMatchObject({
      rollouts: 50,
      fleets: ["lab", "lab-pods", "lab-haproxy", "lab-deploy"],
      timeScale: 0.05,
      seed: 2 ** 30,
      maxGapMs: 10_000,
      backToBackShare: 0.5,
      profiles: ["steady", "burst", "idle"],
      parallel: false,
    });
    expect(parseSoakEnv({ SOAK_N: "3", SOAK_FLEETS: "lab-pods", SOAK_SEED: "7" })).toMatchObject({
      rollouts: 3,
      fleets: ["lab-pods"],
      seed: 7,
    });
    expect(() => parseSoakEnv({ SOAK_N: "0" })).toThrow(/SOAK_N/);
    expect(() => parseSoakEnv({ SOAK_FLEETS: "lab,nope" })).toThrow(/SOAK_FLEETS: unknown nope/);
    expect(() => parseSoakEnv({ SOAK_TIME_SCALE: "0.01" })).toThrow(/SOAK_TIME_SCALE/);
    expect(() => parseSoakEnv({ SOAK_PARALLEL: "yes" })).toThrow(/SOAK_PARALLEL/);
  });
});
