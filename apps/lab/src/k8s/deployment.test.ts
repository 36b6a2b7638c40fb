import { rm } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { waitFor } from "@ebb/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureVmServerBuilt, kubectl, tempDir } from "../../test-support/k8s.js";
import { type Cluster, startCluster } from "./cluster.js";
import { REVISION_ANNOTATION } from "./deployment-controller.js";
import { writeKubeconfig } from "./kubeconfig.js";
import { DEPLOYMENTS, PODS, REPLICASETS } from "./resources.js";
import { isPodReady, type KObject, type Pod, type ReplicaSet } from "./types.js";

const NET = "127.0.141";
const SCALE = 0.05;
const FIXTURE = fileURLToPath(new URL("../../src/k8s/fixtures/probe-sidecar.mjs", import.meta.url));

function deployment(name: string, replicas: number, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace: "lab" },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: {
          labels: { app: name },
          annotations: { "lab.ebb.dev/pod-ip-range": `${NET}.21-${NET}.40` },
        },
        spec: {
          terminationGracePeriodSeconds: 30,
          containers: [
            {
              name: "web",
              image: "lab/web:1.0.0",
              ports: [{ name: "http", containerPort: 8080 }],
              readinessProbe: {
                httpGet: { path: "/health_check.html", port: "http" },
                periodSeconds: 2,
                // 500 ms at this scale: on a loaded machine a 50 ms probe timeout makes readiness flap, which
                // the "never fewer ready than replicas" check would blame on the controller.
                timeoutSeconds: 10,
              },
            },
          ],
        },
      },
      ...extra,
    },
  });
}

describe("Deployments and ReplicaSets through kubectl", () => {
  let dir: string;
  let cluster: Cluster;
  let kubeconfig: string;
  const lines: string[] = [];
  const k = (args: string[], input?: string) => kubectl(kubeconfig, path.join(dir, "kube"), args, input);
  const ok = async (args: string[], input?: string) => {
    const run = await k(args, input);
    expect(run.stderr, `kubectl ${args.join(" ")}`).toBe("");
    expect(run.code).toBe(0);
    return run.stdout;
  };
  const podsOf = (app: string) =>
    (cluster.store.list(PODS, "lab", (o) => o.metadata.labels?.app === app) as Pod[]).filter(
      (p) => !p.metadata.deletionTimestamp,
    );
  const replicaSets = (app: string) =>
    cluster.store.list(REPLICASETS, "lab", (o) => o.metadata.labels?.app === app) as ReplicaSet[];

  beforeAll(async () => {
    ensureVmServerBuilt();
    dir = await tempDir();
    cluster = await startCluster({
      labDir: dir,
      api: { host: `${NET}.1`, port: 0 },
      podAddresses: [`${NET}.50`],
      timeScale: SCALE,
      namespaces: ["lab"],
      images: { "lab/probe-sidecar": { command: [process.execPath, FIXTURE] } },
      log: (line) => lines.push(line),
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

  it("creates a Deployment; rollout status waits until its pods are ready; get shows the columns", async () => {
    await ok(["apply", "-f", "-"], deployment("web", 3));
    const status = await ok(["rollout", "status", "deployment/web", "--timeout=30s"]);
    expect(status).toContain('deployment "web" successfully rolled out');
    expect(podsOf("web").filter(isPodReady)).toHaveLength(3);
    expect(await ok(["get", "deployments"])).toMatch(/web\s+3\/3\s+3\s+3/);
    const rs = replicaSets("web");
    expect(rs).toHaveLength(1);
    expect(rs[0]!.metadata.annotations?.[REVISION_ANNOTATION]).toBe("1");
    expect(await ok(["get", "rs"])).toMatch(new RegExp(`${rs[0]!.metadata.name}\\s+3\\s+3\\s+3`));
  });

  it("kubectl scale goes through the scale subresource; the pod with the lowest deletion cost goes first", async () => {
    const victim = podsOf("web")[1]!.metadata.name!;
    await ok(["annotate", "pod", victim, "controller.kubernetes.io/pod-deletion-cost=-100"]);
    expect(await ok(["scale", "deployment", "web", "--replicas=2"])).toContain("deployment.apps/web scaled");
    await waitFor(() => podsOf("web").length === 2, { what: "2 live pods" });
    expect(podsOf("web").map((p) => p.metadata.name)).not.toContain(victim);
    const scale = JSON.parse(
      await ok(["get", "--raw", "/apis/apps/v1/namespaces/lab/deployments/web/scale"]),
    );
    expect(scale).toMatchObject({ kind: "Scale", spec: { replicas: 2 }, status: { selector: "app=web" } });
    await ok(["scale", "deployment", "web", "--replicas=3"]);
    await ok(["rollout", "status", "deployment/web", "--timeout=30s"]);
    expect(podsOf("web").filter(isPodReady)).toHaveLength(3);
  });

  it("rollout restart replaces every pod within maxSurge 1 / maxUnavailable 0; undo returns to revision 1's template", async () => {
    let maxPods = 0;
    let minReady = Number.POSITIVE_INFINITY;
    const unsubscribe = cluster.store.subscribe((e) => {
      if (e.resource !== PODS) return;
      const live = podsOf("web");
      maxPods = Math.max(maxPods, live.length);
      minReady = Math.min(minReady, live.filter(isPodReady).length);
    });
    const before = new Set(podsOf("web").map((p) => p.metadata.uid));
    const firstRs = replicaSets("web")[0]!;
    try {
      expect(await ok(["rollout", "restart", "deployment/web"])).toContain("deployment.apps/web restarted");
      await ok(["rollout", "status", "deployment/web", "--timeout=60s"]);
    } finally {
      unsubscribe();
    }
    expect(podsOf("web").some((p) => before.has(p.metadata.uid))).toBe(false);
    expect(maxPods).toBeLessThanOrEqual(4);
    expect(minReady).toBeGreaterThanOrEqual(3);
    const history = await ok(["rollout", "history", "deployment/web"]);
    expect(history).toMatch(/1\s+<none>\s*\n2\s+<none>/);

    expect(await ok(["rollout", "undo", "deployment/web"])).toContain("deployment.apps/web rolled back");
    await ok(["rollout", "status", "deployment/web", "--timeout=60s"]);
    const current = cluster.store.peek(REPLICASETS, "lab", firstRs.metadata.name!) as ReplicaSet;
    expect(current.metadata.uid).toBe(firstRs.metadata.uid);
    expect(current.spec.replicas).toBe(3);
    expect(current.metadata.annotations?.[REVISION_ANNOTATION]).toBe("3");
    const d = cluster.store.peek(DEPLOYMENTS, "lab", "web") as KObject;
    expect(d.metadata.annotations?.[REVISION_ANNOTATION]).toBe("3");
  });

  it("a paused Deployment makes no new ReplicaSet until resumed", async () => {
    await ok(["rollout", "pause", "deployment/web"]);
    await ok(["set", "image", "deployment/web", "web=lab/web:2.0.0"]);
    await waitFor(
      () => {
        const d = cluster.store.peek(DEPLOYMENTS, "lab", "web") as KObject;
        return Number(d.status?.observedGeneration) === d.metadata.generation;
      },
      { what: "the paused change observed" },
    );
    expect(replicaSets("web")).toHaveLength(2);
    await ok(["rollout", "resume", "deployment/web"]);
    await ok(["rollout", "status", "deployment/web", "--timeout=60s"]);
    expect(replicaSets("web")).toHaveLength(3);
    const versions = await Promise.all(
      podsOf("web").map(async (p) => {
        const res = await fetch(`http://${p.status?.podIP}:8080/`);
        return ((await res.json()) as { version: string }).version;
      }),
    );
    expect(versions).toEqual(["2.0.0", "2.0.0", "2.0.0"]);
  });

  it("a native sidecar starts before the app, reads the API with its token as RBAC allows, answers the preStop httpGet, and stops after the app", async () => {
    const rbac = [
      { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "hook", namespace: "lab" } },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "Role",
        metadata: { name: "read-slices", namespace: "lab" },
        rules: [
          {
            apiGroups: ["discovery.k8s.io"],
            resources: ["endpointslices"],
            verbs: ["get", "list", "watch"],
          },
        ],
      },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: { name: "hook-reads-slices", namespace: "lab" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "read-slices" },
        subjects: [{ kind: "ServiceAccount", name: "hook", namespace: "lab" }],
      },
    ];
    for (const o of rbac) await ok(["apply", "-f", "-"], JSON.stringify(o));
    const spec = JSON.parse(deployment("hooked", 1)) as {
      spec: { template: { spec: Record<string, unknown> } };
    };
    const pod = spec.spec.template.spec;
    pod.serviceAccountName = "hook";
    const env = [
      { name: "POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
      { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
      { name: "APP_PORT", value: "8080" },
      { name: "HOOK_PORT", value: "8099" },
    ];
    pod.initContainers = [
      {
        name: "hook",
        image: "lab/probe-sidecar:1",
        restartPolicy: "Always",
        env,
        ports: [{ containerPort: 8099 }],
      },
    ];
    (pod.containers as Record<string, unknown>[])[0]!.lifecycle = {
      preStop: { httpGet: { path: "/prestop", port: 8099 } },
    };
    await ok(["apply", "-f", "-"], JSON.stringify(spec));
    await ok(["rollout", "status", "deployment/hooked", "--timeout=30s"]);
    const name = podsOf("hooked")[0]!.metadata.name!;
    const events = () =>
      lines
        .filter((l) => l.includes(`lab/${name} [hook] {`))
        .map((l) => JSON.parse(l.slice(l.indexOf("{"))) as Record<string, unknown>);
    await waitFor(() => events().length > 0, { what: "the sidecar's first line" });
    // Started before the app; its token lists EndpointSlices (the Role) and is refused pods.
    expect(events()[0]).toMatchObject({ event: "started", pod: name, appUp: false, slices: 200, pods: 403 });
    const statuses = (cluster.store.peek(PODS, "lab", name) as Pod).status?.initContainerStatuses as {
      name: string;
      ready: boolean;
    }[];
    expect(statuses).toEqual([expect.objectContaining({ name: "hook", ready: true })]);

    await ok(["scale", "deployment", "hooked", "--replicas=0"]);
    await waitFor(() => cluster.store.peek(PODS, "lab", name) === undefined, { what: `${name} gone` });
    // The app served while its preStop ran, and was gone when the sidecar got SIGTERM.
    expect(events().slice(1)).toEqual([
      { event: "prestop", path: "/prestop", appUp: true },
      { event: "sigterm", appUp: false },
    ]);
    expect(lines.some((l) => l.includes(`${name}`) && l.includes("preStop GET :8099/prestop -> 200"))).toBe(
      true,
    );
  });
});
