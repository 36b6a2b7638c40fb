import path from "node:path";
import type { K8sPod } from "@ebb/lab";
import { waitFor } from "@ebb/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { givenLabCluster, kubectl } from "./support.js";

interface SliceList {
  items: { endpoints: { targetRef: { name: string; uid: string }; conditions: { ready: boolean } }[] }[];
}

describe("kubectl against the emulated cluster with running pods", () => {
  let lab: Awaited<ReturnType<typeof givenLabCluster>>;
  const k = (...args: string[]) => kubectl(lab.kubeconfigPath, path.join(lab.dir, "kube"), args);
  const json = async <T>(...args: string[]): Promise<T> => {
    const run = await k(...args, "-o", "json");
    expect(run.stderr).toBe("");
    return JSON.parse(run.stdout) as T;
  };
  const sliceReady = async (pod: string) => {
    const slices = await json<SliceList>("get", "endpointslices", "-l", "kubernetes.io/service-name=web");
    return slices.items.flatMap((s) => s.endpoints).find((e) => e.targetRef.name === pod);
  };

  beforeAll(async () => {
    lab = await givenLabCluster(58, { replicas: 2 });
  });
  afterAll(async () => {
    await lab?.cleanup();
  });

  it("lists the pods, running on their addresses", async () => {
    const pods = await json<{ items: K8sPod[] }>("get", "pods");
    expect(pods.items.map((p) => [p.metadata.name, p.status?.phase, p.status?.podIP])).toEqual([
      ["web-0", "Running", "127.0.58.21"],
      ["web-1", "Running", "127.0.58.22"],
    ]);
    const table = await k("get", "pods", "-o", "wide");
    expect(table.stdout).toMatch(/web-0\s+1\/1\s+Running\s+0\s+\S+\s+127\.0\.58\.21\s+lab-node\s+1\/1/);
    const sts = await k("get", "statefulsets");
    expect(sts.stdout).toMatch(/web\s+2\/2/);
  });

  it("patches the readiness gate through the status subresource; the EndpointSlice follows", async () => {
    const patch = await k(
      "patch",
      "pod",
      "web-1",
      "--subresource=status",
      "--type=strategic",
      "-p",
      JSON.stringify({ status: { conditions: [{ type: "ebb.dev/serving", status: "False" }] } }),
    );
    expect(patch.stderr).toBe("");
    expect(patch.stdout).toContain("pod/web-1 patched");
    await waitFor(async () => (await sliceReady("web-1"))?.conditions.ready === false, {
      what: "web-1 not ready in the slice",
    });
    const table = await k("get", "pods", "web-1", "-o", "wide");
    expect(table.stdout).toMatch(/web-1\s+1\/1\s+Running\s+0\s+\S+\s+\S+\s+lab-node\s+0\/1/);
  });

  it("deletes a pod with a grace period and waits; the StatefulSet brings it back under the same name", async () => {
    const before = await json<K8sPod>("get", "pod", "web-1");
    const del = await k("delete", "pod", "web-1", "--grace-period=10");
    expect(del.stderr).toBe("");
    expect(del.stdout).toContain('pod "web-1" deleted');
    await waitFor(
      async () => {
        const e = await sliceReady("web-1");
        return e && e.targetRef.uid !== before.metadata.uid && e.conditions.ready;
      },
      { timeoutMs: 15_000, what: "the new web-1 ready in the slice" },
    );
    const after = await json<K8sPod>("get", "pod", "web-1");
    expect(after.status?.podIP).toBe("127.0.58.22");
    expect(after.metadata.uid).not.toBe(before.metadata.uid);
  });
});
