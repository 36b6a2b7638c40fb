import { describe, expect, it } from "vitest";
import {
  type AnalysisDecision,
  countersDecision,
  countersSince,
  type HttpCounters,
  histogramQuantileMs,
  queryDecision,
} from "./analysis.js";
import { formatIssues, parseRunbook, parseRunbookOrThrow } from "./runbook/parse.js";
import type { AnalysisStep } from "./runbook/steps.js";
import type { Observation } from "./workflow/types.js";

const HEAD = "apiVersion: ebb/v1\nkind: Runbook\nname: t\nbalancer: l4\nsteps:\n";

function step(fields: string): AnalysisStep {
  const [s] = parseRunbookOrThrow(`${HEAD}  - id: analysis\n    type: analysis\n${fields}`).steps;
  if (s?.type !== "analysis") throw new Error("not an analysis step");
  return s;
}

const counters = (requests: number, errors: number, latency?: HttpCounters["latency"]): HttpCounters =>
  latency === undefined ? { requests, errors } : { requests, errors, latency };

/** Runs checks at the given times with the given readings, feeding each observation to the next. */
function run<T>(
  decide: (previous: Observation | undefined, reading: T, now: number) => AnalysisDecision,
  readings: [number, T][],
): AnalysisDecision[] {
  let previous: Observation | undefined;
  return readings.map(([now, reading]) => {
    const d = decide(previous, reading, now);
    previous = d.observation;
    return d;
  });
}

describe("analysis step schema", () => {
  it("parses windows and defaults", () => {
    const s = step("    window: 5s\n    maxErrorRatio: 0.05\n");
    expect(s).toMatchObject({
      window: 5_000,
      interval: 1_000,
      source: "counters",
      minRequests: 10,
      latencyQuantile: 0.99,
      metricsPath: "/metrics",
      whenInconclusive: "fail",
    });
  });

  it.each([
    ["    window: 5s\n", "maxErrorRatio", "needs maxErrorRatio and/or maxLatencyMs"],
    ["    window: 5s\n    source: prometheus\n    threshold: 1\n", "query", "source prometheus needs query"],
    ["    window: 5s\n    maxErrorRatio: 0.1\n    query: up\n", "query", "applies to source: prometheus"],
    [
      "    window: 5s\n    source: prometheus\n    query: up\n    threshold: 1\n    maxLatencyMs: 5\n",
      "maxLatencyMs",
      "applies to source: counters",
    ],
    ["    window: 1s\n    interval: 2s\n    maxErrorRatio: 0.1\n", "interval", "not be longer than window"],
    ["    window: 5s\n    maxErrorRatio: 2\n", "maxErrorRatio", ""],
  ])("refuses a bad step, naming the field (%#)", (fields, field, message) => {
    const result = parseRunbook(`${HEAD}  - id: analysis\n    type: analysis\n${fields}`);
    expect(result.ok).toBe(false);
    const text = result.ok ? "" : formatIssues(result.errors);
    expect(text).toContain(field);
    expect(text).toContain(message);
  });
});

describe("countersDecision", () => {
  const s = step("    window: 10s\n    interval: 1s\n    maxErrorRatio: 0.05\n    minRequests: 20\n");
  const decide = (previous: Observation | undefined, current: HttpCounters, now: number) =>
    countersDecision({ step: s, previous, current, now });

  it("takes the baseline first, then passes a clean window only once the window is over", () => {
    const [first, mid, end] = run(decide, [
      [1_000, counters(500, 3)],
      [6_000, counters(600, 3)],
      [11_000, counters(700, 4)],
    ]);
    expect(first).toMatchObject({ verdict: "continue", recheckAtMs: 2_000 });
    expect(first?.observation).toMatchObject({ startedAtMs: 1_000, baseline: { requests: 500 } });
    expect(mid).toMatchObject({ verdict: "continue", observation: { requests: 100, errors: 0 } });
    expect(end).toMatchObject({
      verdict: "pass",
      observation: { requests: 200, errors: 1, errorRatio: 0.005 },
    });
  });

  it("fails at once when the 5xx share crosses the threshold over enough requests", () => {
    const [, early, breach] = run(decide, [
      [0, counters(0, 0)],
      [1_000, counters(10, 5)],
      [2_000, counters(40, 12)],
    ]);
    // 5 of 10 is not judged: fewer than minRequests.
    expect(early?.verdict).toBe("continue");
    expect(breach?.verdict).toBe("fail");
    expect(breach?.verdict === "fail" && breach.message).toBe(
      "5xx ratio 30% (12 of 40 requests) above maxErrorRatio 5% after 2 s",
    );
  });

  it("judges nothing over too few requests: inconclusive fails, or passes when asked to", () => {
    const readings: [number, HttpCounters][] = [
      [0, counters(0, 0)],
      [10_000, counters(5, 5)],
    ];
    const end = run(decide, readings)[1];
    expect(end?.verdict).toBe("fail");
    expect(end?.verdict === "fail" && end.message).toContain("5 requests in 10 s, fewer than minRequests 20");
    const lenient = step(
      "    window: 10s\n    maxErrorRatio: 0.05\n    minRequests: 20\n    whenInconclusive: pass\n",
    );
    const passed = run(
      (p, c: HttpCounters, now) => countersDecision({ step: lenient, previous: p, current: c, now }),
      readings,
    )[1];
    expect(passed).toMatchObject({ verdict: "pass", observation: { inconclusive: true } });
  });

  it("reads counters that went down as a restarted target: everything it counted is new", () => {
    expect(countersSince(counters(1_000, 10), counters(30, 3))).toEqual(counters(30, 3));
    const [, after] = run(decide, [
      [0, counters(1_000, 0)],
      [3_000, counters(30, 15)],
    ]);
    expect(after?.verdict).toBe("fail");
  });

  it("fails on the latency quantile of the window's requests, not of the process' lifetime", () => {
    const slow = step(
      "    window: 10s\n    maxLatencyMs: 200\n    latencyQuantile: 0.9\n    minRequests: 10\n",
    );
    const bounds = [50, 100, 250, 500];
    // Before the window: 1000 fast requests. In the window: 20, 10 of them between 250 and 500 ms.
    const before = counters(1_000, 0, {
      boundsMs: bounds,
      counts: [1_000, 1_000, 1_000, 1_000],
      count: 1_000,
    });
    const inWindow = counters(1_020, 0, {
      boundsMs: bounds,
      counts: [1_010, 1_010, 1_010, 1_020],
      count: 1_020,
    });
    const [, d] = run(
      (p, c: HttpCounters, now) => countersDecision({ step: slow, previous: p, current: c, now }),
      [
        [0, before],
        [2_000, inWindow],
      ],
    );
    expect(d?.verdict).toBe("fail");
    expect(d?.verdict === "fail" && d.message).toBe("p90 latency 450 ms above maxLatencyMs 200 after 2 s");
  });

  it("fails when maxLatencyMs is asked of a target without a latency histogram", () => {
    const slow = step("    window: 10s\n    maxLatencyMs: 200\n    minRequests: 1\n");
    const [, d] = run(
      (p, c: HttpCounters, now) => countersDecision({ step: slow, previous: p, current: c, now }),
      [
        [0, counters(0, 0)],
        [1_000, counters(5, 0)],
      ],
    );
    expect(d?.verdict === "fail" && d.message).toContain("no http_request_duration_seconds histogram");
  });
});

describe("histogramQuantileMs", () => {
  it("interpolates inside the bucket, as histogram_quantile does", () => {
    const h = { boundsMs: [100, 200, 400], counts: [50, 90, 100], count: 100 };
    expect(histogramQuantileMs(0.5, h)).toBe(100);
    expect(histogramQuantileMs(0.7, h)).toBe(150);
    expect(histogramQuantileMs(0.95, h)).toBe(300);
    // Beyond the last finite bound, the bound is all we know.
    expect(histogramQuantileMs(0.99, { boundsMs: [100], counts: [50], count: 100 })).toBe(100);
    expect(histogramQuantileMs(0.99, { boundsMs: [100], counts: [0], count: 0 })).toBeNull();
  });
});

describe("queryDecision", () => {
  const s = step("    window: 3s\n    source: prometheus\n    query: q\n    threshold: 0.1\n");
  const decide = (previous: Observation | undefined, value: number | null, now: number) =>
    queryDecision({ step: s, previous, value, now });

  it("passes a window of values under the threshold; fails at the first one above", () => {
    expect(
      run(decide, [
        [0, 0],
        [1_000, 0.05],
        [3_000, 0.1],
      ]).map((d) => d.verdict),
    ).toEqual(["continue", "continue", "pass"]);
    const failing = run(decide, [
      [0, 0],
      [1_000, 0.25],
    ]);
    expect(failing[1]?.verdict === "fail" && failing[1].message).toBe(
      "query value 0.25 above threshold 0.1 after 1 s",
    );
  });

  it("counts no series (or NaN) as no data: a window without any is inconclusive", () => {
    const [, , end] = run(decide, [
      [0, null],
      [1_000, null],
      [3_000, null],
    ]);
    expect(end?.verdict === "fail" && end.message).toContain("no data in 3 evaluations");
    expect(
      run(decide, [
        [0, null],
        [3_000, 0.01],
      ])[1]?.verdict,
    ).toBe("pass");
  });

  it("with failWhen: below, fails on a value under the threshold", () => {
    const floor = step(
      "    window: 3s\n    source: prometheus\n    query: q\n    threshold: 5\n    failWhen: below\n",
    );
    const d = queryDecision({ step: floor, previous: undefined, value: 2, now: 0 });
    expect(d.verdict).toBe("fail");
  });
});
