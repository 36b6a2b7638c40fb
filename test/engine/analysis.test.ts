import { afterEach, describe, expect, it } from "vitest";
import {
  givenRunbook,
  type Lab,
  rollOut,
  runbook,
  runningVersions,
  startTraffic,
  type Traffic,
} from "../support/analysis.js";
import { api, givenEbb, type RunningEbb } from "../support/ebb.js";
import { createRollout, describeTargets, errorsOf, startLoad, untilTerminal } from "../support/rollouts.js";
import { givenLab } from "../support/world.js";

// issue #14 §3: an `analysis` step watches each target back on the new version; a release that answers
// 5xx to a share of requests (a lab release named `+failN`) fails its first target, so the rollout stops
// after the first batch. Here the numbers come from the targets' own counters (their /metrics); the same
// through a real Prometheus: analysis-prometheus.test.ts.

let lab: Lab | undefined;
let ebb: RunningEbb | undefined;
let traffic: Traffic | undefined;

afterEach(async () => {
  traffic?.stop();
  await ebb?.cleanup();
  await lab?.cleanup();
  [traffic, ebb, lab] = [undefined, undefined, undefined];
});

const COUNTERS = `    window: 2s
    interval: 250ms
    source: counters
    maxErrorRatio: 0.05
    minRequests: 10
`;

describe("analysis between batches, from the targets' own counters", () => {
  it("a release answering 5xx to 30% of requests fails its first target: the rollout stops after batch 1", async () => {
    // Given the lab fleet under traffic through the VIP, and l4-drain with an analysis of the target's counters
    lab = await givenLab(71);
    ebb = await givenEbb(lab, 71);
    await givenRunbook(ebb, "drain-analysed", runbook("drain-analysed", COUNTERS));
    traffic = startTraffic(lab);

    // When a release that fails 30% of its requests rolls out one target at a time
    const done = await rollOut(ebb, "drain-analysed", "2.0.0+fail30", 1);

    // Then its first target fails the analysis, and the rollout stops there
    expect(done.status).toBe("failed");
    expect(done.failure).toMatchObject({ target: "vm1", step: "analysis", code: "analysis_failed" });
    // 30% over the whole run; the check that trips may have seen, say, 3 of 11 (27.3%)
    const ratio =
      /^analysis on vm1: 5xx ratio (\d+(?:\.\d+)?)% \(\d+ of \d+ requests\) above maxErrorRatio 5%/.exec(
        done.failure!.message,
      );
    expect(ratio, done.failure!.message).not.toBeNull();
    expect(Number(ratio![1])).toBeGreaterThanOrEqual(20);
    expect(Number(ratio![1])).toBeLessThanOrEqual(40);
    // and the other batches never started: vm2-vm4 still run the old release
    expect(await runningVersions(lab)).toEqual(["2.0.0+fail30", "1.0.0", "1.0.0", "1.0.0"]);
  });

  it("a good release passes the same analysis on every target (the test above can fail)", async () => {
    lab = await givenLab(72);
    ebb = await givenEbb(lab, 72);
    await givenRunbook(ebb, "drain-analysed", runbook("drain-analysed", COUNTERS));
    traffic = startTraffic(lab);

    const done = await rollOut(ebb, "drain-analysed", "2.0.0", 2);

    expect(done.status, JSON.stringify(done.failure)).toBe("succeeded");
    expect(await runningVersions(lab)).toEqual(["2.0.0", "2.0.0", "2.0.0", "2.0.0"]);
    // each target's analysis judged real traffic, not an empty window
    const analyses = await ebb.prisma.stepRun.findMany({ where: { stepId: "analysis" } });
    expect(analyses).toHaveLength(4);
    for (const a of analyses) {
      const last = (a.observations as { requests?: number; errors?: number }[]).at(-1);
      expect(a.status).toBe("succeeded");
      expect(last?.requests, JSON.stringify(last)).toBeGreaterThanOrEqual(10);
      expect(last?.errors).toBe(0);
    }
  });
});

describe("a bad release found by analysis rolls back (issue #14, done when)", () => {
  it("2.0.0+fail30 fails its analysis on vm1 after batch 1; onFailure: rollback takes vm1 back to 1.0.0 with no failed request", async () => {
    // Given the lab fleet on 1.0.0: keep-alive clients (they must see no error at all), fresh connections
    // through the VIP (they feed the analysis of the target just redeployed), and the analysed runbook
    // with onFailure: rollback
    lab = await givenLab(73);
    ebb = await givenEbb(lab, 73);
    const source = runbook("drain-analysed", COUNTERS).replace(
      "balancer: l4\n",
      "balancer: l4\nonFailure: rollback\n",
    );
    await givenRunbook(ebb, "drain-analysed", source);
    // The keep-alive clients connect first: the device hands new flows out round robin, and the fresh
    // connections (one every 10 ms) interleaved with their connects could leave a VM without any of them,
    // which startLoad waits for in vain (it failed so in CI twice).
    const load = await startLoad(lab);
    traffic = startTraffic(lab);
    try {
      // When the bad release rolls out one target at a time
      const id = await createRollout(ebb, {
        fleet: "lab",
        version: "2.0.0+fail30",
        runbook: "drain-analysed",
        batchSize: 1,
      });
      const done = await untilTerminal(ebb, id, 60_000);

      // Then vm1's analysis failed, and the rollout ended rolled_back through a linked rollout of 1.0.0
      expect(done.status, describeTargets(done)).toBe("rolled_back");
      const { body: original } = await api<{
        failure: { target: string; code: string };
        rollback: { rolloutId: string; targets: string[] } | null;
      }>(ebb, "GET", `/rollouts/${id}`);
      expect(original.failure).toMatchObject({ target: "vm1", code: "analysis_failed" });
      expect(original.rollback?.targets).toEqual(["vm1"]);
      const { body: rb } = await api<{
        status: string;
        version: string;
        drainProof: { drains: number; clientErrors: number };
      }>(ebb, "GET", `/rollouts/${original.rollback!.rolloutId}`);
      expect(rb).toMatchObject({
        status: "succeeded",
        version: "1.0.0",
        drainProof: { drains: 1, clientErrors: 0 },
      });
      // every VM on the old release again, the later batches never touched
      expect(await runningVersions(lab)).toEqual(["1.0.0", "1.0.0", "1.0.0", "1.0.0"]);
    } finally {
      // and the keep-alive clients saw no failed request, through the bad release and its rollback
      const errors = errorsOf(await load.stop());
      expect(errors.count, errors.samples).toBe(0);
    }
  });
});
