import { readdir, rm } from "node:fs/promises";
import path from "node:path";
import { waitFor } from "@ebb/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureVmServerBuilt, kubectl, tempDir } from "../../test-support/k8s.js";
import { setHealthCheck } from "../vm/index.js";
import { canConnect, getJson } from "../vm/probe.js";
import { type Cluster, startCluster } from "./cluster.js";
import { writeKubeconfig } from "./kubeconfig.js";
import { PODS } from "./resources.js";
import { conditionOf, type Pod } from "./types.js";

// Pods are real lab VM processes on 127.0.51.21+; durations run at 0.05 (grace 10 s = 500 ms).
const NET = "127.0.51";
const SCALE = 0.05;

function podSpec(
  name: string,
  opts: { preStop?: number; grace?: number; hang?: boolean; gate?: boolean } = {},
) {
  return {
    metadata: {
      name,
      labels: { app: "solo" },
      annotations: {
        "ebb.dev/version": "3.1.4",
        ...(opts.hang ? { "lab.ebb.dev/hang-on-stop": "true" } : {}),
      },
    },
    spec: {
      ...(opts.gate ? { readinessGates: [{ conditionType: "ebb.dev/serving" }] } : {}),
      terminationGracePeriodSeconds: opts.grace ?? 10,
      containers: [
        {
          name: "web",
          image: "lab/web:3.1.4",
          ports: [{ name: "http", containerPort: 8080 }],
          readinessProbe: {
            httpGet: { path: "/health_check.html", port: "http" },
            periodSeconds: 2,
            failureThreshold: 2,
          },
          ...(opts.preStop ? { lifecycle: { preStop: { sleep: { seconds: opts.preStop } } } } : {}),
        },
      ],
    },
  };
}

describe("pods as lab VM processes", () => {
  let dir: string;
  let cluster: Cluster;
  let kubeconfig: string;
  const pod = (name: string) => cluster.store.peek(PODS, "lab", name) as Pod | undefined;
  const cond = (name: string, type: string) => {
    const p = pod(name);
    return p ? conditionOf(p, type)?.status : undefined;
  };

  beforeAll(async () => {
    ensureVmServerBuilt();
    dir = await tempDir();
    cluster = await startCluster({
      labDir: dir,
      api: { host: `${NET}.1`, port: 0 },
      podAddresses: [21, 22, 23, 24].map((n) => `${NET}.${n}`),
      timeScale: SCALE,
      namespaces: ["lab"],
      gateController: false,
    });
    kubeconfig = await writeKubeconfig(path.join(dir, "kubeconfig"), {
      server: cluster.apiUrl,
      namespace: "lab",
    });
  });

  afterAll(async () => {
    await cluster?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("runs a pod on its address with its version; Ready needs the probe AND every readiness gate", async () => {
    cluster.registry.create(PODS, "lab", podSpec("gated", { gate: true }));
    await waitFor(() => cond("gated", "ContainersReady") === "True", { what: "containers ready" });
    const p = pod("gated")!;
    expect(p.status?.phase).toBe("Running");
    expect(p.spec.nodeName).toBe("lab-node");
    const ip = p.status?.podIP ?? "";
    expect(ip).toMatch(/^127\.0\.51\.2\d$/);
    expect(await getJson(ip, 8080, "/")).toMatchObject({ version: "3.1.4", host: "gated" });
    expect(cond("gated", "Ready")).toBe("False");
    expect(conditionOf(p, "Ready")?.reason).toBe("ReadinessGatesNotReady");

    cluster.registry.patch(
      PODS,
      "lab",
      "gated",
      "application/strategic-merge-patch+json",
      {
        status: { conditions: [{ type: "ebb.dev/serving", status: "True" }] },
      },
      "status",
    );
    await waitFor(() => cond("gated", "Ready") === "True", { what: "Ready once the gate is True" });
    cluster.registry.patch(
      PODS,
      "lab",
      "gated",
      "application/strategic-merge-patch+json",
      {
        status: { conditions: [{ type: "ebb.dev/serving", status: "False" }] },
      },
      "status",
    );
    await waitFor(() => cond("gated", "Ready") === "False", { what: "not Ready once the gate is False" });
    // Taking the pod out by its gate leaves it running and answering.
    expect(await getJson(ip, 8080, "/")).toMatchObject({ version: "3.1.4" });
    cluster.registry.delete(PODS, "lab", "gated", { gracePeriodSeconds: 0 });
    await waitFor(async () => !(await canConnect(ip, 8080, 200)), {
      what: "the force-deleted pod's process gone",
    });
  });

  it("follows the readiness probe: a failing health check makes the pod unready, a passing one ready again", async () => {
    cluster.registry.create(PODS, "lab", podSpec("probed"));
    await waitFor(() => cond("probed", "Ready") === "True", { what: "probe-ready" });
    const incarnations = await readdir(path.join(dir, "k8s", "pods"));
    const incarnation = incarnations.find((n) => n.startsWith("lab.probed."))!;
    const vm = path.join(dir, "k8s", "pods", incarnation, "vms", "probed");
    await setHealthCheck(vm, false);
    await waitFor(() => cond("probed", "Ready") === "False", { what: "unready after failed probes" });
    expect(pod("probed")?.status?.phase).toBe("Running");
    await setHealthCheck(vm, true);
    await waitFor(() => cond("probed", "Ready") === "True", { what: "ready again" });
    cluster.registry.delete(PODS, "lab", "probed", { gracePeriodSeconds: 0 });
  });

  it("kubectl delete runs preStop, then SIGTERM, and returns once the pod is gone", async () => {
    cluster.registry.create(PODS, "lab", podSpec("graceful", { preStop: 10, grace: 30 }));
    await waitFor(() => cond("graceful", "Ready") === "True", { what: "ready" });
    const ip = pod("graceful")!.status!.podIP!;
    const started = Date.now();
    // --wait (the default) watches until the object is gone.
    const del = kubectl(kubeconfig, path.join(dir, "kube"), ["delete", "pod", "graceful"]);
    await waitFor(() => pod("graceful")?.metadata.deletionTimestamp, { what: "deletionTimestamp" });
    // During preStop (10 s scaled: 500 ms) the app still answers: SIGTERM has not come yet.
    expect(await getJson(ip, 8080, "/")).toMatchObject({ version: "3.1.4" });
    const run = await del;
    expect(run.stdout).toContain('pod "graceful" deleted');
    expect(Date.now() - started).toBeGreaterThanOrEqual(10 * 1000 * SCALE);
    expect(pod("graceful")).toBeUndefined();
    expect(await canConnect(ip, 8080, 200)).toBe(false);
  });

  it("SIGKILLs a pod that ignores SIGTERM at the end of its grace period", async () => {
    cluster.registry.create(PODS, "lab", podSpec("stubborn", { hang: true, grace: 20 }));
    await waitFor(() => cond("stubborn", "Ready") === "True", { what: "ready" });
    const ip = pod("stubborn")!.status!.podIP!;
    const started = Date.now();
    cluster.registry.delete(PODS, "lab", "stubborn");
    // Still answering after SIGTERM: it ignores it.
    await waitFor(() => pod("stubborn")?.metadata.deletionTimestamp, { what: "terminating" });
    expect(await canConnect(ip, 8080, 200)).toBe(true);
    await waitFor(() => pod("stubborn") === undefined, {
      timeoutMs: 15_000,
      what: "the pod removed after SIGKILL",
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(20 * 1000 * SCALE - 50);
    expect(await canConnect(ip, 8080, 200)).toBe(false);
  });

  it("restarts a container whose process died, counting the restart", async () => {
    cluster.registry.create(PODS, "lab", podSpec("crashy"));
    await waitFor(() => cond("crashy", "Ready") === "True", { what: "ready" });
    const statusOf = () =>
      pod("crashy")?.status?.containerStatuses?.[0] as Record<string, unknown> | undefined;
    const pid = Number(String(statusOf()?.containerID).replace("lab://", ""));
    process.kill(pid, "SIGKILL");
    await waitFor(() => statusOf()?.restartCount === 1 && cond("crashy", "Ready") === "True", {
      timeoutMs: 15_000,
      what: "restarted and ready again",
    });
    expect(String(statusOf()?.containerID)).not.toBe(`lab://${pid}`);
    cluster.registry.delete(PODS, "lab", "crashy", { gracePeriodSeconds: 0 });
  });
});
