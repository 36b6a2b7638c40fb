import { createHash } from "node:crypto";
import http from "node:http";
import { vmStatus } from "@ebb/lab";
import { waitFor } from "@ebb/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { api, givenEbb, type RunningEbb } from "../support/ebb.js";
import { givenPrometheus, type RunningPrometheus } from "../support/prometheus.js";
import { givenLab } from "../support/world.js";

// issue #14 §3: an `analysis` step watches each target back on the new version; a release that answers
// 5xx to a share of requests (a lab release named `+failN`) fails its first target, so the rollout stops
// after the first batch, whether the numbers come from the target's own counters or from a Prometheus.

type Lab = Awaited<ReturnType<typeof givenLab>>;
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

interface RolloutView {
  status: string;
  failure: { target: string; step: string; code: string; message: string } | null;
  targets: { name: string; status: string }[];
}

async function untilTerminal(e: RunningEbb, id: string): Promise<RolloutView> {
  return waitFor(
    async () => {
      const { body } = await api<RolloutView>(e, "GET", `/rollouts/${id}`);
      return ["succeeded", "failed", "aborted"].includes(body.status) ? body : undefined;
    },
    { timeoutMs: 40_000, intervalMs: 200, what: `rollout ${id} to finish` },
  );
}

interface Traffic {
  stop(): void;
}

/**
 * One request per fresh connection through the VIP every 10 ms: keep-alive clients stay on the server that
 * took their connection, so a target back from its drain would see none of them; new flows are spread by
 * the device over every bound target, the one just deployed included.
 */
function startTraffic(l: Lab): Traffic {
  const vip = new URL(l.device.vipUrl);
  const timer = setInterval(() => {
    http
      .get({ host: vip.hostname, port: Number(vip.port), path: "/", agent: false }, (res) => res.resume())
      .on("error", () => {});
  }, 10);
  return { stop: () => clearInterval(timer) };
}

/** l4-drain with an analysis step after the verify. */
function runbook(name: string, analysis: string): string {
  return `apiVersion: ebb/v1
kind: Runbook
name: ${name}
balancer: l4
steps:
  - { id: fail-health-check, type: exec, kind: health-fail, idempotent: true, run: ["ebb-vm", "health", "fail"] }
  - { id: await-unbound, type: balancer.awaitUnbound }
  - { id: stop, type: exec, kind: stop, idempotent: true, run: ["ebb-vm", "stop"], timeout: 45s }
  - { id: await-quiet, type: traffic.awaitQuiet, holdFor: 0s }
  - { id: deploy, type: exec, kind: deploy, idempotent: true, run: ["ebb-vm", "deploy"] }
  - { id: start, type: exec, kind: start, idempotent: true, run: ["ebb-vm", "start"] }
  - { id: restore-health-check, type: exec, kind: health-restore, idempotent: true, run: ["ebb-vm", "health", "restore"] }
  - { id: await-bound, type: balancer.awaitBound }
  - id: analysis
    type: analysis
${analysis}`;
}

const COUNTERS = `    window: 2s
    interval: 250ms
    source: counters
    maxErrorRatio: 0.05
    minRequests: 10
`;

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

async function givenRunbook(e: RunningEbb, name: string, source: string): Promise<void> {
  await e.prisma.runbookVersion.create({
    data: { name, version: 1, source, checksum: createHash("sha256").update(source).digest("hex") },
  });
}

async function rollOut(e: RunningEbb, runbookName: string, version: string, batchSize: number) {
  const created = await api<{ id: string }>(e, "POST", "/rollouts", {
    fleet: "lab",
    version,
    runbook: runbookName,
    batchSize,
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return untilTerminal(e, created.body.id);
}

async function runningVersions(l: Lab): Promise<(string | null | undefined)[]> {
  return Promise.all(l.vms.map(async (vm) => (await vmStatus(vm.dir)).runningVersion));
}

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
    expect(done.failure!.message).toMatch(
      /^analysis on vm1: 5xx ratio 3\d(\.\d)?% \(\d+ of \d+ requests\) above maxErrorRatio 5%/,
    );
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

describe("analysis between batches, from a PromQL query against a real Prometheus", () => {
  it("the fleet's Prometheus sees the bad release's 5xx share: the rollout stops after batch 1", async () => {
    // Given the lab fleet, a Prometheus scraping its VMs' /metrics, named by the fleet
    lab = await givenLab(73);
    prometheus = await givenPrometheus(
      "127.0.73.1",
      lab.vms.map((vm) => `${vm.host}:${vm.port}`),
    );
    ebb = await givenEbb(lab, 73);
    const fleet = await api<{ balancerConfig: Record<string, unknown> }>(ebb, "GET", "/fleets/lab");
    const patched = await api(ebb, "PATCH", "/fleets/lab", {
      balancerConfig: { ...fleet.body.balancerConfig, prometheusUrl: prometheus.url },
    });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    await givenRunbook(ebb, "drain-promql", runbook("drain-promql", PROMQL));
    traffic = startTraffic(lab);

    // When the release that fails 30% of its requests rolls out one target at a time
    const done = await rollOut(ebb, "drain-promql", "2.0.0+fail30", 1);

    // Then the query's value for vm1 on the new version crosses the threshold and the rollout stops there
    expect(done.status).toBe("failed");
    expect(done.failure).toMatchObject({ target: "vm1", step: "analysis", code: "analysis_failed" });
    expect(done.failure!.message).toMatch(/^analysis on vm1: query value 0\.\d+ above threshold 0\.05/);
    expect(await runningVersions(lab)).toEqual(["2.0.0+fail30", "1.0.0", "1.0.0", "1.0.0"]);
    // and Prometheus did see it: the 500s of vm1 on that release
    const failures = await prometheus.query(
      `http_requests_total{host="vm1",version="2.0.0+fail30",code="500"}`,
    );
    expect(Number(failures[0]?.value[1])).toBeGreaterThan(0);
  });
});
