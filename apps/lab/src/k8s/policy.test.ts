import { rm } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kubectl, tempDir } from "../../test-support/k8s.js";
import { type Cluster, startCluster } from "./cluster.js";
import { writeKubeconfig } from "./kubeconfig.js";

// HPAs (autoscaling/v2) and PodDisruptionBudgets (policy/v1): stored and listed, no controller acts on them;
// `ebb lint` reads them against the workload they apply to.
const HOST = "127.0.59.1";

const manifests = `
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: { name: web }
spec:
  scaleTargetRef: { apiVersion: apps/v1, kind: Deployment, name: web }
  minReplicas: 2
  maxReplicas: 8
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: { name: web }
spec:
  maxUnavailable: 2
  selector: { matchLabels: { app: web } }
`;

describe("HPAs and PodDisruptionBudgets in the emulator", () => {
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

  it("kubectl apply, get by short name and delete work for both kinds", async () => {
    const applied = await k(["apply", "-f", "-"], manifests);
    expect(applied.stderr).toBe("");
    expect(applied.stdout).toContain("horizontalpodautoscaler.autoscaling/web created");
    expect(applied.stdout).toContain("poddisruptionbudget.policy/web created");
    const hpa = JSON.parse((await k(["get", "hpa", "web", "-o", "json"])).stdout) as {
      spec: { maxReplicas: number; scaleTargetRef: { name: string } };
    };
    expect(hpa.spec).toMatchObject({ maxReplicas: 8, scaleTargetRef: { name: "web" } });
    const pdbs = JSON.parse((await k(["get", "pdb", "-o", "json"])).stdout) as {
      items: { metadata: { name: string }; spec: { maxUnavailable: number } }[];
    };
    expect(pdbs.items.map((p) => [p.metadata.name, p.spec.maxUnavailable])).toEqual([["web", 2]]);
    expect((await k(["delete", "pdb", "web"])).stdout).toContain('poddisruptionbudget.policy "web" deleted');
  });

  it("refuses what the real API server refuses: a PDB with both limits, an HPA without its target", async () => {
    const both = await k(
      ["apply", "-f", "-"],
      JSON.stringify({
        apiVersion: "policy/v1",
        kind: "PodDisruptionBudget",
        metadata: { name: "both" },
        spec: { minAvailable: 1, maxUnavailable: 1, selector: { matchLabels: { app: "web" } } },
      }),
    );
    expect(both.stderr).toContain("minAvailable and maxUnavailable cannot be both set");
    const noTarget = await k(
      ["create", "-f", "-"],
      JSON.stringify({
        apiVersion: "autoscaling/v2",
        kind: "HorizontalPodAutoscaler",
        metadata: { name: "bad" },
        spec: { maxReplicas: 3 },
      }),
    );
    expect(noTarget.stderr).toContain("spec.scaleTargetRef");
  });
});
