import type { V1EndpointSlice, V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import {
  conservativeTime,
  endpointOf,
  imageTag,
  podFacts,
  podVersion,
  preStopSeconds,
  removedSince,
  withImageTag,
} from "./pods.js";

const pod = (over: Partial<V1Pod> = {}): V1Pod => ({
  metadata: {
    name: "web-0",
    uid: "u1",
    labels: { "controller-revision-hash": "web-abc", "ebb.dev/serving": "true" },
  },
  spec: {
    readinessGates: [{ conditionType: "ebb.dev/serving" }],
    terminationGracePeriodSeconds: 45,
    containers: [
      {
        name: "web",
        image: "registry:5000/lab/web:1.2.3",
        ports: [{ containerPort: 9090 }],
        lifecycle: { preStop: { exec: { command: ["sh", "-c", "sleep 7"] } } },
      },
      { name: "istio-proxy", image: "istio/proxyv2" },
    ],
  },
  status: {
    phase: "Running",
    podIP: "10.0.0.5",
    conditions: [
      { type: "Ready", status: "False", lastTransitionTime: new Date("2025-01-01T00:00:10.250Z") },
      { type: "ContainersReady", status: "True" },
      { type: "ebb.dev/serving", status: "False" },
    ],
  },
  ...over,
});

describe("pod facts", () => {
  it("reads what the drain needs from a pod", () => {
    expect(podFacts(pod(), "ebb.dev/serving")).toEqual({
      name: "web-0",
      uid: "u1",
      host: "10.0.0.5",
      port: 9090,
      version: "1.2.3",
      phase: "Running",
      ready: false,
      containersReady: true,
      terminating: false,
      hasGate: true,
      gate: "False",
      servingLabel: "true",
      terminationGracePeriodSeconds: 45,
      preStopSeconds: 7,
      sidecar: true,
      revision: "web-abc",
      keepAliveSeconds: undefined,
      drainBudgetSeconds: undefined,
    });
  });

  it("reads the app's keep-alive timeout and drain budget from annotations, ignoring unreadable ones", () => {
    const annotated = pod();
    annotated.metadata!.annotations = {
      "ebb.dev/keep-alive-timeout": "1m15s",
      "ebb.dev/drain-budget": "10",
    };
    expect(podFacts(annotated, "ebb.dev/serving")).toMatchObject({
      keepAliveSeconds: 75,
      drainBudgetSeconds: undefined,
    });
  });

  it("prefers the version annotation, then a VERSION env var, then the image tag", () => {
    expect(podVersion(pod({ metadata: { annotations: { "ebb.dev/version": "9.9.9" } } }))).toBe("9.9.9");
    expect(imageTag("registry:5000/web")).toBeUndefined();
    expect(withImageTag("registry:5000/web:1", "2")).toBe("registry:5000/web:2");
    expect(withImageTag("web", "2")).toBe("web:2");
    expect(preStopSeconds({ sleep: { seconds: 3 } })).toBe(3);
    expect(preStopSeconds(undefined)).toBe(0);
  });

  it("dates a removal from the Ready transition, rounding whole-second stamps up", () => {
    expect(removedSince(pod())).toBe(Date.parse("2025-01-01T00:00:10.250Z"));
    expect(conservativeTime(new Date("2025-01-01T00:00:10Z"))).toBe(Date.parse("2025-01-01T00:00:10.999Z"));
    const flipped = pod({
      metadata: {
        name: "web-0",
        annotations: { "ebb.dev/out-of-service-since": "2025-01-01T00:00:20.000Z" },
      },
    });
    expect(removedSince(flipped)).toBe(Date.parse("2025-01-01T00:00:20.000Z"));
    const ready = pod({ status: { conditions: [{ type: "Ready", status: "True" }] } });
    expect(removedSince(ready)).toBeUndefined();
  });
});

describe("endpoints in EndpointSlices", () => {
  const slices: V1EndpointSlice[] = [
    {
      addressType: "IPv4",
      endpoints: [
        {
          addresses: ["10.0.0.5"],
          conditions: { ready: false, serving: true, terminating: true },
          targetRef: { kind: "Pod", name: "web-0", uid: "u1" },
        },
        { addresses: ["10.0.0.6"], targetRef: { kind: "Pod", name: "web-1", uid: "u2" } },
      ],
    },
  ];

  it("finds a pod's endpoint, with the API's defaults for unset conditions", () => {
    expect(endpointOf(slices, "web-0")).toEqual({
      pod: "web-0",
      uid: "u1",
      present: true,
      ready: false,
      serving: true,
      terminating: true,
    });
    expect(endpointOf(slices, "web-1")).toMatchObject({
      present: true,
      ready: true,
      serving: true,
      terminating: false,
    });
    expect(endpointOf(slices, "web-2")).toMatchObject({ present: false, ready: false });
  });
});
