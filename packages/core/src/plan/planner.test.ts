import { describe, expect, it } from "vitest";
import { isEbbError } from "../errors.js";
import { DEFAULT_L4_TIMING, type TargetFacts } from "../facts.js";
import { loadBuiltinRunbooks } from "../runbook/builtins.js";
import { parseRunbookOrThrow } from "../runbook/parse.js";
import { planRollout } from "./planner.js";

const runbook = parseRunbookOrThrow(`apiVersion: ebb/v1
kind: Runbook
name: t
balancer: l4
steps:
  - { id: stop, type: exec, run: [ebb-vm, stop] }
  - { id: await-unbound, type: balancer.awaitUnbound }
  - { id: deploy, type: exec, run: [ebb-vm, deploy] }
  - { id: start, type: exec, run: [ebb-vm, start] }
  - { id: await-bound, type: balancer.awaitBound }
`);

function fleet(count: number, out: string[] = []): TargetFacts[] {
  return Array.from({ length: count }, (_, i) => {
    const name = `vm${i + 1}`;
    return { name, host: `127.0.0.${11 + i}`, port: 8080, inService: !out.includes(name) };
  });
}

const timing = DEFAULT_L4_TIMING;

describe("planRollout", () => {
  it("batches by count", () => {
    const plan = planRollout({
      targets: fleet(8),
      strategy: { batchSize: 3, maxUnavailable: 3 },
      timing,
      runbook,
    });
    expect(plan.batches).toEqual([
      ["vm1", "vm2", "vm3"],
      ["vm4", "vm5", "vm6"],
      ["vm7", "vm8"],
    ]);
    expect(plan.findings).toEqual([]);
  });

  it("batches by percentage: batch size rounds up, maxUnavailable rounds down", () => {
    const byPercent = planRollout({
      targets: fleet(8),
      strategy: { batchSize: "25%", maxUnavailable: "50%" },
      timing,
      runbook,
    });
    expect(byPercent.batches.map((b) => b.length)).toEqual([2, 2, 2, 2]);
    // 30% of 8 = 2.4 -> 2 may be out (never 3).
    const capped = planRollout({ targets: fleet(8), strategy: { maxUnavailable: "30%" }, timing, runbook });
    expect(capped.limits.maxUnavailable).toBe(2);
    expect(capped.batches.map((b) => b.length)).toEqual([2, 2, 2, 2]);
    // 10% of 3 targets = 1 per batch when rounding up the batch size.
    const small = planRollout({
      targets: fleet(3),
      strategy: { batchSize: "10%", maxUnavailable: 3 },
      timing,
      runbook,
    });
    expect(small.batches.map((b) => b.length)).toEqual([1, 1, 1]);
  });

  it("maxUnavailable counts targets already out of service", () => {
    const none = planRollout({
      targets: fleet(4, ["vm2"]),
      strategy: { maxUnavailable: 1 },
      timing,
      runbook,
    });
    expect(none.batches).toEqual([]);
    expect(none.findings.map((f) => [f.severity, f.code])).toContainEqual(["error", "no_capacity"]);
    expect(none.findings.find((f) => f.code === "no_capacity")?.message).toContain("vm2");

    const two = planRollout({ targets: fleet(4, ["vm2"]), strategy: { maxUnavailable: 2 }, timing, runbook });
    expect(two.batches).toEqual([["vm1"], ["vm3"], ["vm4"]]);
    expect(two.skipped).toEqual(["vm2"]);
    expect(two.limits).toMatchObject({ maxUnavailable: 2, alreadyOut: 1, batchSize: 1 });
    expect(two.findings).toEqual([expect.objectContaining({ code: "target_out_of_service", target: "vm2" })]);

    const reduced = planRollout({
      targets: fleet(4, ["vm2"]),
      strategy: { batchSize: 2, maxUnavailable: 2 },
      timing,
      runbook,
    });
    expect(reduced.batches.map((b) => b.length)).toEqual([1, 1, 1]);
    expect(reduced.findings.map((f) => f.code)).toContain("batch_size_reduced");
  });

  it("keeps minHealthy targets in service", () => {
    const plan = planRollout({
      targets: fleet(4),
      strategy: { batchSize: 2, maxUnavailable: 2, minHealthy: 3 },
      timing,
      runbook,
    });
    expect(plan.batches.map((b) => b.length)).toEqual([1, 1, 1, 1]);
    expect(plan.findings).toEqual([
      expect.objectContaining({
        severity: "warning",
        code: "batch_size_reduced",
        message: expect.stringContaining("minHealthy"),
      }),
    ]);
    const impossible = planRollout({
      targets: fleet(4, ["vm1"]),
      strategy: { maxUnavailable: 3, minHealthy: "75%" },
      timing,
      runbook,
    });
    expect(impossible.batches).toEqual([]);
    expect(impossible.findings.map((f) => [f.severity, f.code])).toContainEqual([
      "error",
      "plan_breaks_min_healthy",
    ]);
  });

  it("computes the expected duration from the balancer's timing", () => {
    const targets = fleet(3).map((t, i) => ({
      ...t,
      estimates: { stopMs: 2_000 + i * 1_000, deployMs: 3_000, startMs: 1_000 },
    }));
    const plan = planRollout({ targets, strategy: { batchSize: 2, maxUnavailable: 2 }, timing, runbook });
    // detection max = (retry 1 + 1) * 10 s + 5 s = 25 s; bring-up = 10 s + 5 s = 15 s.
    // vm1: 2 + 25 + 3 + 1 + 15 = 46 s, vm2: 47 s, vm3: 48 s. Batch = slowest target; total = sum.
    expect(plan.batchDurationsMs).toEqual([47_000, 48_000]);
    expect(plan.expectedDurationMs).toBe(95_000);
    // The floor is what the balancer imposes: detection min = retry * interval = 10 s, bring-up 0.
    expect(plan.floorPerTargetMs).toBe(10_000);
  });

  it("maxSurge: 0 by default, a count as given, a percentage of the fleet rounded up (as Kubernetes does)", () => {
    const surge = (maxSurge: unknown, n = 4) =>
      planRollout({ targets: fleet(n), strategy: { maxUnavailable: 1, maxSurge } as never, timing, runbook })
        .limits.maxSurge;
    expect(
      planRollout({ targets: fleet(4), strategy: { maxUnavailable: 1 }, timing, runbook }).limits.maxSurge,
    ).toBe(0);
    expect(surge(2)).toBe(2);
    // 25% of 4 = 1; 10% of 4 = 0.4 -> 1 (never 0: a percentage asked for surges); 30% of 10 = 3 exactly.
    expect(surge("25%")).toBe(1);
    expect(surge("10%")).toBe(1);
    expect(surge("30%", 10)).toBe(3);
    expect(surge("0%")).toBe(0);
    // surge adds targets, it takes none out: the batches are maxUnavailable's alone
    const plan = planRollout({
      targets: fleet(4),
      strategy: { maxUnavailable: 1, maxSurge: 2 },
      timing,
      runbook,
    });
    expect(plan.batches.map((b) => b.length)).toEqual([1, 1, 1, 1]);
  });

  it("refuses malformed strategies and duplicate targets with plan_invalid", () => {
    const cases: [unknown, RegExp][] = [
      [{ maxUnavailable: "abc" }, /strategy\.maxUnavailable/],
      [{ maxUnavailable: "150%" }, /more than 100%/],
      [{ maxUnavailable: 1, batchSize: 0 }, /batchSize: must be at least 1/],
      [{ maxUnavailable: 1, surge: 1 }, /surge/],
      [{ maxUnavailable: 1, maxSurge: -1 }, /strategy\.maxSurge/],
      [{ maxUnavailable: 1, maxSurge: "1.5" }, /strategy\.maxSurge/],
      [{ maxUnavailable: 1, maxSurge: "150%" }, /maxSurge: 150% is more than 100%/],
    ];
    for (const [strategy, message] of cases) {
      try {
        planRollout({ targets: fleet(2), strategy: strategy as never, timing, runbook });
        expect.unreachable();
      } catch (error) {
        expect(isEbbError(error, "plan_invalid")).toBe(true);
        expect((error as Error).message).toMatch(message);
      }
    }
    const dup = [...fleet(2), ...fleet(1)];
    expect(() => planRollout({ targets: dup, strategy: { maxUnavailable: 1 }, timing, runbook })).toThrow(
      /duplicate/,
    );
  });
});

describe("estimates for pods (k8s-pod-drain)", () => {
  it("counts the propagation window and preStop as floors, the grace period as the ceiling of a stop", () => {
    const pods = loadBuiltinRunbooks()["k8s-pod-drain"];
    const podTiming = {
      ...timing,
      healthCheckIntervalMs: 1_000,
      checkTimeoutMs: 100,
      propagationWindowMs: 2_500,
    };
    const target: TargetFacts = {
      name: "web-0",
      host: "127.0.0.21",
      port: 8080,
      inService: true,
      backgroundWorkBudgetMs: 1_000,
      pod: {
        terminationGracePeriodMs: 3_000,
        preStopMs: 500,
        readinessGate: true,
        labelFallback: true,
        sidecar: false,
      },
    };
    const plan = planRollout({
      targets: [target],
      strategy: { maxUnavailable: 1 },
      timing: podTiming,
      runbook: pods,
    });
    // Floor: window 2.5 s + quiet hold 1 s + preStop 0.5 s; nothing else is fixed.
    expect(plan.floorPerTargetMs).toBe(2_500 + 1_000 + 500);
    // Expected adds the API calls, the drain after preStop, a start and one probe interval, a probe.
    expect(plan.expectedDurationMs).toBe(500 + 3_000 + 1_000 + 1_500 + 3_000 + 1_100 + 1_000);
  });
});
