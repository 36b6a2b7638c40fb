import { rm } from "node:fs/promises";
import path from "node:path";
import { waitFor } from "@ebb/testkit";
import { CoreV1Api, KubeConfig, makeInformer, type V1Pod } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kubectl, tempDir } from "../../test-support/k8s.js";
import { type Cluster, startCluster } from "./cluster.js";
import { writeKubeconfig } from "./kubeconfig.js";
import { PODS } from "./resources.js";
import type { Pod } from "./types.js";

// API only (no kubelet): these tests are about the REST surface, watches and clients, not pod processes.
const HOST = "127.0.50.1";

const podManifest = (name: string, labels: Record<string, string> = { app: "web" }) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, labels },
  spec: {
    readinessGates: [{ conditionType: "ebb.dev/serving" }],
    containers: [{ name: "web", image: "lab/web:1.0.0" }],
  },
});

describe("the Kubernetes API emulator", () => {
  let dir: string;
  let cluster: Cluster;
  let kubeconfig: string;
  const k = (args: string[], input?: string) => kubectl(kubeconfig, path.join(dir, "kube"), args, input);

  beforeAll(async () => {
    dir = await tempDir();
    cluster = await startCluster({
      labDir: dir,
      api: { host: HOST, port: 0 },
      podAddresses: [],
      namespaces: ["lab"],
      kubelet: false,
      historyLimit: 50,
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

  it("refuses a foreign Host (DNS rebinding) or a cross-origin Origin (CSRF) with 403", async () => {
    const { request } = await import("node:http");
    const status = (headers: Record<string, string>) =>
      new Promise<number>((resolve, reject) => {
        const req = request(
          `${cluster.apiUrl}/api/v1/namespaces/default/pods`,
          { headers, agent: false },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on("error", reject);
        req.end();
      });
    expect(await status({ host: `rebound.example:${new URL(cluster.apiUrl).port}` })).toBe(403);
    expect(await status({ origin: "https://evil.example" })).toBe(403);
    expect(await status({})).toBe(200);
  });

  it("serves discovery well enough for kubectl api-resources", async () => {
    const run = await k(["api-resources", "-o", "name"]);
    expect(run.stderr).toBe("");
    expect(run.stdout.split("\n")).toEqual(
      expect.arrayContaining(["pods", "services", "statefulsets.apps", "endpointslices.discovery.k8s.io"]),
    );
  });

  it("kubectl creates, lists (JSON and table) and gets pods", async () => {
    const created = await k(["create", "-f", "-"], JSON.stringify(podManifest("web-a")));
    expect(created.stderr).toBe("");
    expect(created.stdout).toContain("pod/web-a created");
    const list = await k(["get", "pods", "-o", "json"]);
    const items = (JSON.parse(list.stdout) as { items: Pod[] }).items;
    expect(items.map((p) => p.metadata.name)).toContain("web-a");
    expect(items[0]?.spec.terminationGracePeriodSeconds).toBe(30);
    const table = await k(["get", "pods", "-o", "wide"]);
    expect(table.stdout).toMatch(/NAME\s+READY\s+STATUS/);
    expect(table.stdout).toMatch(/web-a\s+0\/1\s+Pending/);
    const missing = await k(["get", "pod", "nope"]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('pods "nope" not found');
  });

  it("kubectl patches the status subresource (strategic merge keeps other conditions) and labels", async () => {
    await k(["create", "-f", "-"], JSON.stringify(podManifest("web-b")));
    cluster.store.mutate(PODS, "lab", "web-b", (o) => {
      (o as Pod).status = { phase: "Running", conditions: [{ type: "Ready", status: "False" }] };
    });
    const status = await k([
      "patch",
      "pod",
      "web-b",
      "--subresource=status",
      "--type=strategic",
      "-p",
      JSON.stringify({ status: { conditions: [{ type: "ebb.dev/serving", status: "False" }] } }),
    ]);
    expect(status.stderr).toBe("");
    const pod = cluster.store.peek(PODS, "lab", "web-b") as Pod;
    expect(pod.status?.conditions?.map((c) => `${c.type}=${c.status}`)).toEqual([
      "Ready=False",
      "ebb.dev/serving=False",
    ]);
    // A status patch does not touch the spec or labels; a main-resource patch does not touch the status.
    const label = await k([
      "patch",
      "pod",
      "web-b",
      "--type=json",
      "-p",
      '[{"op":"add","path":"/metadata/labels/x","value":"y"}]',
    ]);
    expect(label.stderr).toBe("");
    const merged = await k(["patch", "pod", "web-b", "--type=merge", "-p", '{"status":{"phase":"Failed"}}']);
    expect(merged.stderr).toBe("");
    const after = cluster.store.peek(PODS, "lab", "web-b") as Pod;
    expect(after.metadata.labels).toEqual({ app: "web", x: "y" });
    expect(after.status?.phase).toBe("Running");
    const spec = await k([
      "patch",
      "pod",
      "web-b",
      "--type=merge",
      "-p",
      '{"spec":{"restartPolicy":"Never"}}',
    ]);
    expect(spec.code).not.toBe(0);
    expect(spec.stderr).toContain("Forbidden");
  });

  it("kubectl force-deletes a pod and lists EndpointSlices", async () => {
    await k(["create", "-f", "-"], JSON.stringify(podManifest("web-c")));
    const del = await k(["delete", "pod", "web-c", "--grace-period=0", "--force"]);
    expect(del.stdout).toContain('pod "web-c" force deleted');
    expect(cluster.store.peek(PODS, "lab", "web-c")).toBeUndefined();
    await k(
      ["create", "-f", "-"],
      JSON.stringify({
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "web" },
        spec: { selector: { app: "web" }, ports: [{ port: 80, targetPort: 8080 }] },
      }),
    );
    const slices = await k(["get", "endpointslices", "-o", "json"]);
    expect(slices.stderr).toBe("");
    const parsed = JSON.parse(slices.stdout) as { items: { metadata: { labels: Record<string, string> } }[] };
    expect(parsed.items[0]?.metadata.labels["kubernetes.io/service-name"]).toBe("web");
    const table = await k(["get", "endpointslices"]);
    expect(table.stdout).toMatch(/NAME\s+ADDRESSTYPE\s+PORTS\s+ENDPOINTS/);
  });

  it("a graceful delete marks the pod terminating with its grace period (the kubelet finishes it)", async () => {
    await k(["create", "-f", "-"], JSON.stringify(podManifest("web-d")));
    cluster.store.mutate(PODS, "lab", "web-d", (o) => {
      (o as Pod).spec.nodeName = "lab-node";
    });
    const del = await k(["delete", "pod", "web-d", "--grace-period=7", "--wait=false"]);
    expect(del.stderr).toBe("");
    const pod = cluster.store.peek(PODS, "lab", "web-d") as Pod;
    expect(pod.metadata.deletionGracePeriodSeconds).toBe(7);
    expect(pod.metadata.deletionTimestamp).toBeDefined();
    const shorter = await k(["delete", "pod", "web-d", "--grace-period=2", "--wait=false"]);
    expect(shorter.stderr).toBe("");
    expect((cluster.store.peek(PODS, "lab", "web-d") as Pod).metadata.deletionGracePeriodSeconds).toBe(2);
    const get = await k(["get", "pod", "web-d"]);
    expect(get.stdout).toMatch(/web-d\s+0\/1\s+Terminating/);
  });

  it("a client-node informer sees adds, updates and deletes, and relists after 410 Expired", async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    const core = kc.makeApiClient(CoreV1Api);
    let lists = 0;
    const informer = makeInformer<V1Pod>(
      kc,
      "/api/v1/namespaces/lab/pods",
      () => {
        lists++;
        return core.listNamespacedPod({ namespace: "lab", labelSelector: "tier=informer" });
      },
      "tier=informer",
    );
    const seen: string[] = [];
    const errors: unknown[] = [];
    informer.on("add", (p) => seen.push(`add ${p.metadata?.name}`));
    informer.on("update", (p) => seen.push(`update ${p.metadata?.name} ${p.metadata?.labels?.phase ?? ""}`));
    informer.on("delete", (p) => seen.push(`delete ${p.metadata?.name}`));
    informer.on("error", (err) => errors.push(err));
    await informer.start();
    try {
      const labels = { app: "web", tier: "informer" };
      await core.createNamespacedPod({ namespace: "lab", body: podManifest("inf-1", labels) });
      await waitFor(() => seen.includes("add inf-1"), { what: "informer add" });
      cluster.store.mutate(PODS, "lab", "inf-1", (o) => {
        o.metadata.labels = { ...labels, phase: "two" };
      });
      await waitFor(() => seen.includes("update inf-1 two"), { what: "informer update" });
      // Leaving the selection is a delete for this watcher.
      cluster.store.mutate(PODS, "lab", "inf-1", (o) => {
        o.metadata.labels = { app: "web" };
      });
      await waitFor(() => seen.includes("delete inf-1"), {
        what: "informer delete on leaving the selection",
      });
      expect(lists).toBe(1);

      // Writes the informer does not select push its resourceVersion out of the history (limit 50): when
      // its watch is cut, the resume gets 410 Expired and it lists again.
      for (let i = 0; i < 60; i++) {
        cluster.store.mutate(PODS, "lab", "inf-1", (o) => {
          o.metadata.labels = { app: "web", n: String(i) };
        });
      }
      cluster.api.dropWatches();
      await waitFor(() => lists === 2, { timeoutMs: 15_000, what: "the informer's relist after 410" });
      await core.createNamespacedPod({ namespace: "lab", body: podManifest("inf-2", labels) });
      await waitFor(() => seen.includes("add inf-2"), {
        timeoutMs: 15_000,
        what: "informer add after relist",
      });
      expect(informer.list("lab").map((p) => p.metadata?.name)).toEqual(["inf-2"]);
      expect(errors).toEqual([]);
    } finally {
      await informer.stop();
    }
  });

  it("requires the bearer token when one is configured (client-node sends it; kubectl never does over http)", async () => {
    const secured = await startCluster({
      labDir: dir,
      api: { host: HOST, port: 0 },
      podAddresses: [],
      kubelet: false,
      token: "lab-token",
    });
    try {
      const client = async (token: string) => {
        const kc = new KubeConfig();
        kc.loadFromFile(
          await writeKubeconfig(path.join(dir, `kc-${token}`), { server: secured.apiUrl, token }),
        );
        return kc.makeApiClient(CoreV1Api);
      };
      const names = (await (await client("lab-token")).listNamespace()).items.map((n) => n.metadata?.name);
      expect(names).toContain("default");
      await expect((await client("wrong")).listNamespace()).rejects.toMatchObject({ code: 401 });
      // client-go sends credentials only over TLS (kubernetes/kubectl#744): kubectl is refused.
      const kc = await writeKubeconfig(path.join(dir, "kc-kubectl"), {
        server: secured.apiUrl,
        token: "lab-token",
      });
      const denied = await kubectl(kc, path.join(dir, "kube3"), ["get", "pods"]);
      expect(denied.code).not.toBe(0);
      expect(denied.stderr).toMatch(/provide credentials|Unauthorized/);
    } finally {
      await secured.stop();
    }
  });
});
