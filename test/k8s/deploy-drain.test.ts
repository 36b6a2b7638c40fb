import path from "node:path";
import { K8S_PODS, type LabDeployment, LoadGenerator, type LoadReport } from "@ebb/lab";
import { waitFor } from "@ebb/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { givenLabCluster, kubectl, totalErrors } from "./support.js";

// Terminations Ebb does not start: `kubectl scale` and `kubectl rollout restart` of a Deployment under
// keep-alive load through its Service's proxy (which lags 500 ms behind the EndpointSlices). With no preStop
// the app stops while the proxy still sends it new connections; with the drain hook as native sidecar
// answering `preStop: httpGet`, SIGTERM waits until the pod is out, the lag is covered and it is quiet.
const PROPAGATION_MS = 500;

type Lab = Awaited<ReturnType<typeof givenLabCluster>>;

async function givenDeployment(net: number, drainHook: boolean, lines: string[]): Promise<Lab> {
  return givenLabCluster(net, {
    replicas: 1,
    propagationDelayMs: PROPAGATION_MS,
    deployment: {
      proxy: { host: `127.0.${net}.1`, port: 0 },
      podFirstHost: `127.0.${net}.41`,
      replicas: 4,
      drainHook,
      preStopSeconds: 0,
    },
    log: (line) => lines.push(line),
  });
}

function deploymentOf(lab: Lab): LabDeployment {
  if (!lab.deployment) throw new Error("no deployment in the lab");
  return lab.deployment;
}

/** Keep-alive load through the Deployment's Service, resolved once every pod has answered. */
async function loadThrough(dep: LabDeployment): Promise<LoadGenerator> {
  const url = new URL(dep.proxyUrl);
  const gen = new LoadGenerator({
    target: { host: url.hostname, port: Number(url.port) },
    clients: 12,
    rate: 240,
    timeoutMs: 2_000,
  });
  gen.start();
  await waitFor(() => Object.keys(gen.snapshot().byServer).length === dep.replicas, {
    what: `all ${dep.replicas} pods answering through the service proxy`,
  });
  return gen;
}

/** Scales down by two with kubectl under load; resolves once both pods are gone, with the load's report. */
async function scaleDownUnderLoad(lab: Lab): Promise<{ report: LoadReport; gone: string[] }> {
  const dep = deploymentOf(lab);
  const k = (...args: string[]) => kubectl(lab.kubeconfigPath, path.join(lab.dir, "kube"), args);
  const gen = await loadThrough(dep);
  let report: LoadReport;
  const before = dep.pods().map((p) => p.name);
  try {
    const run = await k("scale", "deployment", dep.name, "--replicas=2");
    expect(run.stderr).toBe("");
    await waitFor(
      () => {
        const live = new Set(lab.cluster.store.list(K8S_PODS, dep.namespace).map((p) => p.metadata.name));
        return before.filter((n) => !live.has(n)).length === 2;
      },
      { timeoutMs: 20_000, what: "two pods terminated and gone" },
    );
    // A moment of load on the two that are left: a request lost at the very end still counts.
    const settled = gen.snapshot().requests;
    await waitFor(() => gen.snapshot().requests > settled + 50, { what: "50 more requests" });
  } finally {
    report = await gen.stop();
  }
  const live = new Set(dep.pods().map((p) => p.name));
  return { report, gone: before.filter((n) => !live.has(n)) };
}

describe("kubectl scale of a Deployment under load, preStop: sleep 0 (the seed)", () => {
  let lab: Lab;
  const lines: string[] = [];
  beforeAll(async () => {
    lab = await givenDeployment(143, false, lines);
  });
  afterAll(async () => {
    await lab?.cleanup();
  });

  it("Given keep-alive load, When two pods are scaled away with no preStop, Then clients see failed requests", async () => {
    const { report, gone } = await scaleDownUnderLoad(lab);
    expect(gone).toHaveLength(2);
    expect(totalErrors(report.errors)).toBeGreaterThan(0);
  });
});

describe("kubectl scale and rollout restart of a Deployment under load, with the drain hook", () => {
  let lab: Lab;
  const lines: string[] = [];
  const released = () =>
    lines
      .filter((l) => l.includes("[drain-hook]") && l.includes('"event":"released"'))
      .map((l) => JSON.parse(l.slice(l.indexOf("{"))) as Record<string, unknown>);
  beforeAll(async () => {
    lab = await givenDeployment(144, true, lines);
  });
  afterAll(async () => {
    await lab?.cleanup();
  });

  it("Given keep-alive load, When two pods are scaled away, Then no request fails and each hook held past the window", async () => {
    const { report, gone } = await scaleDownUnderLoad(lab);
    expect(report.errorSamples).toEqual([]);
    expect(totalErrors(report.errors)).toBe(0);
    const reports = released().filter((r) => gone.includes(r.pod as string));
    expect(reports).toHaveLength(2);
    for (const r of reports) {
      expect(r, JSON.stringify(r)).toMatchObject({ reason: "drained", lateConnections: 0 });
      expect(r.heldMs as number).toBeGreaterThanOrEqual(
        (r.endpointOutAtMs as number) + (r.propagationMs as number),
      );
    }
  });

  it("Given keep-alive load, When the Deployment is restarted with kubectl, Then every pod is replaced and no request fails", async () => {
    const dep = deploymentOf(lab);
    const k = (...args: string[]) => kubectl(lab.kubeconfigPath, path.join(lab.dir, "kube"), args);
    const gen = await loadThrough({ ...dep, replicas: 2 });
    const before = dep.pods().map((p) => p.name);
    let report: LoadReport;
    try {
      expect((await k("rollout", "restart", `deployment/${dep.name}`)).stderr).toBe("");
      const status = await k("rollout", "status", `deployment/${dep.name}`, "--timeout=60s");
      expect(status.stdout).toContain("successfully rolled out");
      // Until the old pods are gone, not only terminating: their last requests are part of the test.
      await waitFor(
        () => {
          const names = lab.cluster.store.list(K8S_PODS, dep.namespace).map((p) => p.metadata.name ?? "");
          return names.every((n) => !before.includes(n)) && dep.pods().length === 2;
        },
        { timeoutMs: 20_000, what: "only new pods" },
      );
      const settled = gen.snapshot().requests;
      await waitFor(() => gen.snapshot().requests > settled + 50, { what: "50 more requests" });
    } finally {
      report = await gen.stop();
    }
    expect(report.errorSamples).toEqual([]);
    expect(totalErrors(report.errors)).toBe(0);
    expect(released().filter((r) => before.includes(r.pod as string))).toHaveLength(2);
  });
});

describe("the drain hook when the proxy lags more than declared", () => {
  let lab: Lab;
  const lines: string[] = [];
  beforeAll(async () => {
    // Proxies lag 1.5 s; the hook is told 100 ms, and its limit is grace 1.5 s - budget 0.3 s = 1.2 s.
    lab = await givenLabCluster(146, {
      replicas: 1,
      propagationDelayMs: 1_500,
      deployment: {
        proxy: { host: "127.0.146.1", port: 0 },
        podFirstHost: "127.0.146.41",
        replicas: 2,
        propagationWindowMs: 100,
        holdMs: 200,
        terminationGracePeriodSeconds: 30,
        shutdownBudgetSeconds: 6,
      },
      log: (line) => lines.push(line),
    });
  });
  afterAll(async () => {
    await lab?.cleanup();
  });

  it("Given new connections still arriving after the window, When a pod is scaled away, Then the hook holds to its limit and reports the late traffic", async () => {
    const dep = deploymentOf(lab);
    const before = dep.pods().map((p) => p.name);
    let stop = false;
    // Fresh connections (not keep-alive): the lagging proxy still sends every other one to the leaving pod.
    const fresh = (async () => {
      while (!stop) {
        await fetch(`${dep.proxyUrl}/`, {
          headers: { connection: "close" },
          signal: AbortSignal.timeout(2_000),
        })
          .then((r) => r.arrayBuffer())
          .catch(() => undefined);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    let report: Record<string, unknown> | undefined;
    try {
      const run = await kubectl(lab.kubeconfigPath, path.join(lab.dir, "kube"), [
        "scale",
        "deployment",
        dep.name,
        "--replicas=1",
      ]);
      expect(run.stderr).toBe("");
      await waitFor(
        () => {
          const line = lines.find((l) => l.includes("[drain-hook]") && l.includes('"event":"released"'));
          report = line ? (JSON.parse(line.slice(line.indexOf("{"))) as Record<string, unknown>) : undefined;
          return report !== undefined;
        },
        { timeoutMs: 10_000, what: "the hook's release" },
      );
    } finally {
      stop = true;
      await fresh;
    }
    expect(before).toContain(report?.pod);
    expect(report).toMatchObject({ reason: "grace-limit", limitMs: 1_200 });
    expect(report?.lateConnections as number).toBeGreaterThan(0);
    expect(report?.heldMs as number).toBeGreaterThanOrEqual(1_200);
  });
});
