import { describe, expect, it } from "vitest";
import {
  hasWorkloadErrors,
  hpaScaleDownStep,
  type LintContainer,
  type LintHpa,
  type LintPdb,
  type LintPod,
  lintWorkload,
  type WorkloadLintInput,
} from "./workload-lint.js";

const hook: LintContainer = {
  name: "drain-hook",
  image: "ebb/drain-hook:0.1.0",
  restartPolicy: "Always",
  ports: [{ name: "drain-hook", containerPort: 8099 }],
  env: [
    { name: "DRAIN_HOOK_PROPAGATION", value: "5s" },
    { name: "DRAIN_HOOK_HOLD", value: "1s" },
    { name: "DRAIN_HOOK_GRACE", value: "30s" },
    { name: "DRAIN_HOOK_SHUTDOWN_BUDGET", value: "10s" },
  ],
};

/** The pod spec docs/drain-hook.md recommends: the hook as native sidecar, grace 30 s, budget 10 s. */
function cleanTemplate(): LintPod {
  return {
    metadata: { labels: { app: "web" }, annotations: { "ebb.dev/drain-budget": "10s" } },
    spec: {
      terminationGracePeriodSeconds: 30,
      initContainers: [structuredClone(hook)],
      containers: [
        {
          name: "web",
          image: "shop/web:2.0.0",
          ports: [{ name: "http", containerPort: 8080 }],
          lifecycle: { preStop: { httpGet: { path: "/drain", port: 8099 } } },
        },
      ],
    },
  };
}

function input(over: Partial<WorkloadLintInput> = {}, template = cleanTemplate()): WorkloadLintInput {
  return {
    propagationWindowMs: 5_000,
    workload: {
      kind: "Deployment",
      metadata: { name: "web", namespace: "shop" },
      spec: {
        replicas: 4,
        strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1 } },
        template,
      },
    },
    pods: [],
    hpas: [],
    pdbs: [],
    ...over,
  };
}

function withApp(patch: (app: LintContainer, pod: LintPod) => void): LintPod {
  const t = cleanTemplate();
  patch(t.spec!.containers[0]!, t);
  return t;
}

const rules = (i: WorkloadLintInput) => lintWorkload(i).map((f) => [f.severity, f.rule, f.object.kind]);

describe("lintWorkload", () => {
  it("the drain hook's pod spec, no HPA or PDB: no finding", () => {
    expect(lintWorkload(input())).toEqual([]);
  });

  describe("1. preStop against the propagation window", () => {
    it("no preStop is an error on the template's app container", () => {
      const f = lintWorkload(
        input(
          {},
          withApp((app) => delete app.lifecycle),
        ),
      );
      expect(f.map((x) => x.rule)).toEqual(["prestop-missing"]);
      expect(f[0]).toMatchObject({
        severity: "error",
        object: { kind: "Deployment", namespace: "shop", name: "web" },
        field: "spec.template.spec.containers[0].lifecycle.preStop",
        numbers: { preStopMs: 0, propagationWindowMs: 5_000 },
      });
      expect(f[0]!.fix).toMatch(/drain hook/);
    });

    it("an exec sleep shorter than the window is an error with both numbers; as long is fine", () => {
      const short = withApp((app) => {
        app.lifecycle = { preStop: { exec: { command: ["sh", "-c", "sleep 3"] } } };
      });
      const f = lintWorkload(input({}, short));
      expect(f.map((x) => [x.rule, x.numbers])).toEqual([
        ["prestop-too-short", { preStopMs: 3_000, propagationWindowMs: 5_000 }],
      ]);
      const enough = withApp((app) => {
        app.lifecycle = { preStop: { sleep: { seconds: 5 } } };
      });
      expect(lintWorkload(input({}, enough))).toEqual([]);
    });

    it("a drain hook whose propagation plus hold is shorter than the window is an error on its env", () => {
      const t = cleanTemplate();
      t.spec!.initContainers![0]!.env![0]!.value = "2s";
      const f = lintWorkload(input({}, t));
      expect(f.map((x) => [x.rule, x.field, x.numbers])).toEqual([
        [
          "prestop-too-short",
          "spec.template.spec.initContainers[0].env",
          { preStopMs: 3_000, propagationWindowMs: 5_000 },
        ],
      ]);
    });

    it("an httpGet to something that is not the hook is a warning (nothing tells how long it holds)", () => {
      const t = withApp((app) => {
        app.lifecycle = { preStop: { httpGet: { path: "/shutdown", port: 8080 } } };
      });
      expect(rules(input({}, t))).toEqual([["warning", "prestop-unobserved", "Deployment"]]);
      // A hook-named container that is NOT a native sidecar does not count as the hook either.
      const regular = cleanTemplate();
      delete regular.spec!.initContainers![0]!.restartPolicy;
      expect(rules(input({}, regular))).toEqual([["warning", "prestop-unobserved", "Deployment"]]);
    });

    it("the lab's time scale applies to the spec's seconds, not to the fleet's window", () => {
      const t = withApp((app) => {
        app.lifecycle = { preStop: { sleep: { seconds: 5 } } };
      });
      const f = lintWorkload(input({ timeScale: 0.1, propagationWindowMs: 600 }, t));
      expect(f.map((x) => [x.rule, x.numbers])).toEqual([
        ["prestop-too-short", { preStopMs: 500, propagationWindowMs: 600 }],
      ]);
    });
  });

  describe("2. the grace period against preStop plus the shutdown budget", () => {
    it("a grace period not longer than preStop + budget is an error (the seed: background work dropped)", () => {
      const t = withApp((app, pod) => {
        app.lifecycle = { preStop: { sleep: { seconds: 5 } } };
        pod.spec!.terminationGracePeriodSeconds = 12;
      });
      const f = lintWorkload(input({}, t));
      expect(f.map((x) => [x.rule, x.field, x.numbers])).toEqual([
        [
          "grace-too-short",
          "spec.template.spec.terminationGracePeriodSeconds",
          { terminationGracePeriodMs: 12_000, preStopMs: 5_000, shutdownBudgetMs: 10_000 },
        ],
      ]);
      expect(f[0]!.fix).toBe("Raise terminationGracePeriodSeconds above 15s.");
    });

    it("with the hook, its propagation + hold is the preStop; the hook's budget declares the app's", () => {
      const t = cleanTemplate();
      delete t.metadata!.annotations;
      t.spec!.terminationGracePeriodSeconds = 16;
      t.spec!.initContainers![0]!.env![2]!.value = "16s";
      expect(lintWorkload(input({}, t)).map((x) => [x.rule, x.numbers])).toEqual([
        ["grace-too-short", { terminationGracePeriodMs: 16_000, preStopMs: 6_000, shutdownBudgetMs: 10_000 }],
      ]);
    });

    it("a hook told a longer grace than the pod has is an error (it would hold past SIGKILL)", () => {
      const t = cleanTemplate();
      t.spec!.initContainers![0]!.env![2]!.value = "60s";
      expect(lintWorkload(input({}, t)).map((x) => [x.rule, x.numbers])).toEqual([
        ["grace-too-short", { terminationGracePeriodMs: 30_000, hookGraceMs: 60_000 }],
      ]);
    });

    it("no declared budget anywhere is a warning naming the annotation", () => {
      const t = withApp((app, pod) => {
        app.lifecycle = { preStop: { sleep: { seconds: 5 } } };
        delete pod.metadata!.annotations;
      });
      const f = lintWorkload(input({}, t));
      expect(f.map((x) => [x.severity, x.rule, x.field])).toEqual([
        [
          "warning",
          "shutdown-budget-undeclared",
          "spec.template.metadata.annotations['ebb.dev/drain-budget']",
        ],
      ]);
    });
  });

  describe("3. sidecars that stop with the app", () => {
    const envoy: LintContainer = { name: "proxy", image: "envoyproxy/envoy:v1.31", ports: [] };

    it("a regular proxy container without a preStop is an error, detected by image, not by name", () => {
      const t = cleanTemplate();
      t.spec!.containers.push(structuredClone(envoy));
      const f = lintWorkload(input({}, t));
      expect(f.map((x) => [x.severity, x.rule, x.field, x.numbers])).toEqual([
        [
          "error",
          "sidecar-stops-with-app",
          "spec.template.spec.containers[1].lifecycle.preStop",
          { sidecarStopMs: 0, appStopMs: 16_000 },
        ],
      ]);
    });

    it("the same proxy with a preStop that outlasts the app's stop is fine; a native sidecar always is", () => {
      const waits = cleanTemplate();
      waits.spec!.containers.push({ ...envoy, lifecycle: { preStop: { sleep: { seconds: 16 } } } });
      expect(lintWorkload(input({}, waits))).toEqual([]);
      const native = cleanTemplate();
      // Named like a mesh proxy, but restartPolicy: Always: stopped only after the app.
      native.spec!.initContainers!.push({
        name: "istio-proxy",
        image: "istio/proxyv2:1.24",
        restartPolicy: "Always",
      });
      expect(lintWorkload(input({}, native))).toEqual([]);
    });

    it("a non-proxy regular second container is a warning", () => {
      const t = cleanTemplate();
      t.spec!.containers.push({ name: "log-shipper", image: "fluent/fluent-bit:3" });
      expect(rules(input({}, t))).toEqual([["warning", "sidecar-stops-with-app", "Deployment"]]);
    });

    it("Istio: the injected proxy (in the pods, not the template) drains 5 s by default; terminationDrainDuration and EXIT_ON_ZERO_ACTIVE_CONNECTIONS count", () => {
      const pod = (name: string, config?: string): LintPod => {
        const p = cleanTemplate();
        p.metadata = { ...p.metadata, name, namespace: "shop" };
        if (config) p.metadata.annotations = { ...p.metadata.annotations, "proxy.istio.io/config": config };
        p.spec!.containers.push({ name: "istio-proxy", image: "docker.io/istio/proxyv2:1.24.0" });
        return p;
      };
      const f = lintWorkload(input({ pods: [pod("web-a"), pod("web-b")] }));
      expect(f).toHaveLength(1);
      expect(f[0]).toMatchObject({
        rule: "sidecar-stops-with-app",
        object: { kind: "Pod", name: "web-a" },
        alsoPods: ["web-b"],
        numbers: { sidecarStopMs: 5_000, appStopMs: 16_000 },
      });
      expect(f[0]!.fix).toMatch(/terminationDrainDuration.*EXIT_ON_ZERO_ACTIVE_CONNECTIONS/);
      const short = lintWorkload(input({ pods: [pod("web-a", "terminationDrainDuration: 10s\n")] }));
      expect(short.map((x) => [x.field, x.numbers])).toEqual([
        ["metadata.annotations['proxy.istio.io/config']", { sidecarStopMs: 10_000, appStopMs: 16_000 }],
      ]);
      expect(lintWorkload(input({ pods: [pod("web-a", "terminationDrainDuration: 20s")] }))).toEqual([]);
      const exitOnZero = '{"proxyMetadata": {"EXIT_ON_ZERO_ACTIVE_CONNECTIONS": "true"}}';
      expect(lintWorkload(input({ pods: [pod("web-a", exitOnZero)] }))).toEqual([]);
    });

    it("pods identical to their template add nothing", () => {
      const p = cleanTemplate();
      p.metadata!.name = "web-a";
      expect(lintWorkload(input({ pods: [p] }))).toEqual([]);
    });
  });

  describe("4. HPAs and PodDisruptionBudgets against what the fleet can lose", () => {
    const pdb = (spec: LintPdb["spec"]): LintPdb => ({
      metadata: { name: "web-pdb", namespace: "shop" },
      spec,
    });
    const selector = { matchLabels: { app: "web" } };

    it("a PDB maxUnavailable above the strategy's maxUnavailable is an error; equal is fine", () => {
      const f = lintWorkload(input({ pdbs: [pdb({ maxUnavailable: 2, selector })] }));
      expect(f.map((x) => [x.severity, x.rule, x.object, x.field, x.numbers])).toEqual([
        [
          "error",
          "pdb-allows-too-many",
          { kind: "PodDisruptionBudget", namespace: "shop", name: "web-pdb" },
          "spec.maxUnavailable",
          { allowedDisruptions: 2, fleetLimit: 1, replicas: 4 },
        ],
      ]);
      expect(f[0]!.fix).toBe("Set spec.maxUnavailable to 1.");
      expect(lintWorkload(input({ pdbs: [pdb({ maxUnavailable: 1, selector })] }))).toEqual([]);
    });

    it("a PDB minAvailable below replicas minus the limit is an error; a PDB for other pods is ignored", () => {
      const f = lintWorkload(input({ pdbs: [pdb({ minAvailable: "50%", selector })] }));
      expect(f.map((x) => [x.field, x.numbers, x.fix])).toEqual([
        [
          "spec.minAvailable",
          { allowedDisruptions: 2, fleetLimit: 1, replicas: 4 },
          "Set spec.minAvailable to 3 (or use spec.maxUnavailable: 1).",
        ],
      ]);
      expect(lintWorkload(input({ pdbs: [pdb({ minAvailable: 3, selector })] }))).toEqual([]);
      const other = pdb({ maxUnavailable: 4, selector: { matchLabels: { app: "db" } } });
      expect(lintWorkload(input({ pdbs: [other] }))).toEqual([]);
    });

    it("the fleet's declared maxUnavailable wins over the strategy; a surge-only strategy still allows one", () => {
      expect(
        lintWorkload(input({ maxUnavailable: 2, pdbs: [pdb({ maxUnavailable: 2, selector })] })),
      ).toEqual([]);
      const surge = input({ pdbs: [pdb({ maxUnavailable: 1, selector })] });
      surge.workload.spec!.strategy = { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0 } };
      expect(lintWorkload(surge)).toEqual([]);
    });

    it("an HPA with Kubernetes' default scale-down (100% per 15 s) is a warning; a Pods policy within the limit is fine", () => {
      const hpa = (behavior?: NonNullable<LintHpa["spec"]>["behavior"]): LintHpa => ({
        metadata: { name: "web-hpa", namespace: "shop" },
        spec: {
          scaleTargetRef: { kind: "Deployment", name: "web" },
          minReplicas: 1,
          maxReplicas: 8,
          ...(behavior ? { behavior } : {}),
        },
      });
      const f = lintWorkload(input({ hpas: [hpa()] }));
      expect(f.map((x) => [x.severity, x.rule, x.object.kind, x.numbers])).toEqual([
        [
          "warning",
          "hpa-scales-down-too-many",
          "HorizontalPodAutoscaler",
          { podsPerStep: 3, periodSeconds: 15, fleetLimit: 1, replicas: 4 },
        ],
      ]);
      const paced = hpa({ scaleDown: { policies: [{ type: "Pods", value: 1, periodSeconds: 60 }] } });
      expect(lintWorkload(input({ hpas: [paced] }))).toEqual([]);
      const other = {
        ...hpa(),
        spec: { ...hpa().spec!, scaleTargetRef: { kind: "Deployment", name: "api" } },
      };
      expect(lintWorkload(input({ hpas: [other] }))).toEqual([]);
    });

    it("the HPA's step: Percent rounds as its controller does, Min picks the smaller, Disabled none", () => {
      const h = (scaleDown: NonNullable<NonNullable<LintHpa["spec"]>["behavior"]>["scaleDown"]): LintHpa => ({
        spec: {
          scaleTargetRef: { kind: "Deployment", name: "web" },
          maxReplicas: 20,
          behavior: { scaleDown },
        },
      });
      const two = [
        { type: "Percent", value: 50, periodSeconds: 60 },
        { type: "Pods", value: 2, periodSeconds: 60 },
      ];
      expect(hpaScaleDownStep(h({ policies: two }), 10).pods).toBe(5);
      expect(hpaScaleDownStep(h({ policies: two, selectPolicy: "Min" }), 10).pods).toBe(2);
      expect(
        hpaScaleDownStep(h({ policies: [{ type: "Percent", value: 10, periodSeconds: 60 }] }), 5).pods,
      ).toBe(0);
      expect(hpaScaleDownStep(h({ selectPolicy: "Disabled" }), 10).pods).toBe(0);
    });
  });

  it("errors decide the exit code; warnings alone do not", () => {
    const warn = withApp((app) => {
      app.lifecycle = { preStop: { httpGet: { port: 8080 } } };
    });
    expect(hasWorkloadErrors(lintWorkload(input({}, warn)))).toBe(false);
    expect(
      hasWorkloadErrors(
        lintWorkload(
          input(
            {},
            withApp((app) => delete app.lifecycle),
          ),
        ),
      ),
    ).toBe(true);
  });
});
