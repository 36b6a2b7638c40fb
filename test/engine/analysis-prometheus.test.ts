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
import { givenPrometheus, type RunningPrometheus } from "../support/prometheus.js";
import { givenLab } from "../support/world.js";

// issue #14 §3, the PromQL path: Debian's Prometheus scrapes the lab VMs' /metrics every 200 ms; the fleet
// names it (balancerConfig.prometheusUrl) and the analysis step asks it for the new version's 5xx share.

let lab: Lab | undefined;
let ebb: RunningEbb | undefined;
let traffic: Traffic | undefined;
let prometheus: RunningPrometheus | undefined;

afterEach(async () => {
  traffic?.stop();
  await ebb?.cleanup();
  await prometheus?.stop();
  await lab?.cleanup();
  [traffic, ebb, prometheus, lab] = [undefined, undefined, undefined, undefined];
});

// The 5xx share of this very target's requests on the new version, over the last 2 s of 200 ms scrapes.
// `or vector(0)`: a release without a single 5xx has no such series at all, and 0 is its share.
const PROMQL = `    window: 2s
    interval: 250ms
    source: prometheus
    query: >-
      (sum(rate(http_requests_total{instance="\${target.host}:\${target.port}",version="\${params.version}",code=~"5.."}[2s])) or vector(0))
      / sum(rate(http_requests_total{instance="\${target.host}:\${target.port}",version="\${params.version}"}[2s]))
    threshold: 0.05
`;

/** The lab fleet, a Prometheus scraping its VMs, named by the fleet; traffic through the VIP. */
async function givenFleetWithPrometheus(
  net: number,
  vms = 4,
): Promise<{ l: Lab; e: RunningEbb; p: RunningPrometheus }> {
  lab = await givenLab(net, { vms });
  prometheus = await givenPrometheus(
    `127.0.${net}.1`,
    lab.vms.map((vm) => `${vm.host}:${vm.port}`),
  );
  ebb = await givenEbb(lab, net);
  const fleet = await api<{ balancerConfig: Record<string, unknown> }>(ebb, "GET", "/fleets/lab");
  const patched = await api(ebb, "PATCH", "/fleets/lab", {
    balancerConfig: { ...fleet.body.balancerConfig, prometheusUrl: prometheus.url },
  });
  expect(patched.status, JSON.stringify(patched.body)).toBe(200);
  await givenRunbook(ebb, "drain-promql", runbook("drain-promql", PROMQL));
  traffic = startTraffic(lab);
  return { l: lab, e: ebb, p: prometheus };
}

describe("analysis between batches, from a PromQL query against a real Prometheus", () => {
  it("the fleet's Prometheus sees the bad release's 5xx share: the rollout stops after batch 1", async () => {
    // Given the lab fleet under traffic, a Prometheus scraping its VMs' /metrics, named by the fleet
    const { l, e, p } = await givenFleetWithPrometheus(73);

    // When the release that fails 30% of its requests rolls out one target at a time
    const done = await rollOut(e, "drain-promql", "2.0.0+fail30", 1);

    // Then the query's value for vm1 on the new version crosses the threshold and the rollout stops there
    expect(done.status).toBe("failed");
    expect(done.failure).toMatchObject({ target: "vm1", step: "analysis", code: "analysis_failed" });
    expect(done.failure!.message).toMatch(/^analysis on vm1: query value 0\.\d+ above threshold 0\.05/);
    expect(await runningVersions(l)).toEqual(["2.0.0+fail30", "1.0.0", "1.0.0", "1.0.0"]);
    // and Prometheus did see it: the 500s of vm1 on that release
    const failures = await p.query('http_requests_total{host="vm1",version="2.0.0+fail30",code="500"}');
    expect(Number(failures[0]?.value[1])).toBeGreaterThan(0);
  });

  it("a good release passes the same query on every target (the test above can fail)", async () => {
    // Two VMs: each target's window is what takes the time, and two show the query passes a good one.
    const { l, e } = await givenFleetWithPrometheus(75, 2);

    const done = await rollOut(e, "drain-promql", "2.0.0", 1);

    expect(done.status, JSON.stringify(done.failure)).toBe("succeeded");
    expect(await runningVersions(l)).toEqual(["2.0.0", "2.0.0"]);
    // each target's analysis judged values Prometheus had for it (no 5xx series at all: `or vector(0)`)
    const analyses = await e.prisma.stepRun.findMany({ where: { stepId: "analysis" } });
    expect(analyses).toHaveLength(2);
    for (const a of analyses) {
      const last = (a.observations as { withData?: number; value?: number | null }[]).at(-1);
      expect(a.status).toBe("succeeded");
      expect(last?.withData, JSON.stringify(last)).toBeGreaterThan(0);
    }
  });
});
