import type { V1Deployment, V1ReplicaSet } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { canonicalTemplate, deploymentProblems, ROLLOUT_ANNOTATION } from "./deployment.js";

// What makes a Deployment unsafe for Ebb to drive (preflight's workload_not_drivable), from plain objects.

function deployment(patch: Partial<V1Deployment["spec"]> = {}, annotations: Record<string, string> = {}) {
  return {
    metadata: { name: "web", uid: "d1", generation: 3, annotations },
    spec: {
      replicas: 4,
      selector: { matchLabels: { app: "web" } },
      strategy: { type: "RollingUpdate" },
      template: { metadata: { labels: { app: "web" } }, spec: { containers: [{ name: "web" }] } },
      ...patch,
    },
    status: { observedGeneration: 3, updatedReplicas: 4 },
  } as V1Deployment;
}
const rs = (name: string, replicas: number) => ({ metadata: { name }, spec: { replicas } }) as V1ReplicaSet;
const hpa = (min: number | undefined, max: number, target = "web") => ({
  metadata: { name: `hpa-${target}` },
  spec: { scaleTargetRef: { kind: "Deployment", name: target }, minReplicas: min, maxReplicas: max },
});
const whys = (ps: { why: string; fix: string }[]) => ps.map((p) => `${p.why} | ${p.fix}`);

describe("deploymentProblems", () => {
  it("finds none in a settled RollingUpdate Deployment with one ReplicaSet, and ignores another workload's HPA", () => {
    expect(deploymentProblems(deployment(), [rs("web-a", 4), rs("web-old", 0)], [hpa(2, 8, "api")])).toEqual(
      [],
    );
  });

  it("refuses Recreate, a pause that is not Ebb's, a rollout of the controller's own, and an HPA that can rescale it", () => {
    expect(
      whys(deploymentProblems(deployment({ strategy: { type: "Recreate" } }), [rs("a", 4)], [])),
    ).toEqual([expect.stringMatching(/strategy Recreate.*\| set spec\.strategy\.type: RollingUpdate/)]);
    expect(whys(deploymentProblems(deployment({ paused: true }), [rs("a", 4)], []))).toEqual([
      expect.stringMatching(/paused by someone else.*kubectl rollout resume/),
    ]);
    expect(whys(deploymentProblems(deployment(), [rs("a", 2), rs("b", 3)], []))).toEqual([
      expect.stringMatching(/middle of its controller's own rollout.*kubectl rollout status/),
    ]);
    expect(whys(deploymentProblems(deployment(), [rs("a", 4)], [hpa(2, 8)]))).toEqual([
      expect.stringMatching(/HorizontalPodAutoscaler hpa-web.*minReplicas = maxReplicas = 4/),
    ]);
    // pinned for the rollout: no longer a problem
    expect(deploymentProblems(deployment(), [rs("a", 4)], [hpa(4, 4)])).toEqual([]);
  });

  it("with Ebb's record: the same version resumes, another version (or a new rollout) is refused", () => {
    const rec = JSON.stringify({ version: "2.0.0", from: "a", fromReplicas: 4, to: "b", replicas: 4 });
    const held = deployment({ paused: true }, { [ROLLOUT_ANNOTATION]: rec });
    const both = [rs("a", 2), rs("b", 2)];
    expect(deploymentProblems(held, both, [], "2.0.0")).toEqual([]);
    expect(whys(deploymentProblems(held, both, [], "3.0.0"))).toEqual([
      expect.stringMatching(/Ebb rollout .* to 2\.0\.0 is in progress.*\| resume, retry or abort/),
    ]);
    expect(deploymentProblems(held, both, [])).toHaveLength(1);
  });
});

describe("canonicalTemplate", () => {
  it("ignores the pod-template-hash label, key order and empty values, as the controller's template match does", () => {
    const a = { metadata: { labels: { app: "web", "pod-template-hash": "x1" } }, spec: { containers: [] } };
    const b = {
      spec: { containers: [], volumes: undefined },
      metadata: { annotations: {}, labels: { app: "web" } },
    };
    expect(canonicalTemplate(a as never)).toBe(canonicalTemplate(b as never));
    expect(canonicalTemplate({ metadata: { labels: { app: "api" } } })).not.toBe(
      canonicalTemplate(b as never),
    );
  });
});
