import { spawn } from "node:child_process";
import path from "node:path";
import type { FleetFindingsView } from "@ebb/contracts";
import { registerLabDeploy } from "@ebb/lab";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { givenEbbWith, type RunningEbb, TEST_ADMIN_TOKEN } from "../support/ebb.js";
import { givenLabCluster, kubectl, SCALE } from "./support.js";

// `ebb lint` against live objects in the emulator: workloads applied with kubectl, each built to break the
// rules (no preStop, a preStop shorter than the propagation window, a grace period shorter than the
// shutdown budget, a regular proxy container and an Istio proxy that stop with the app, a PDB and an HPA that
// let more pods go than the fleet can lose), while the lab's Deployment with the drain hook finds none.
const NET = 148;
const BIN = path.resolve(import.meta.dirname, "../../packages/cli/bin/ebb.js");
const PROPAGATION_MS = 800;

const range = (from: number, to: number) => `127.0.${NET}.${from}-127.0.${NET}.${to}`;

/** Two Deployments of lab web servers, a PDB and an HPA: every rule of `ebb lint` broken once. */
const BROKEN = `
apiVersion: apps/v1
kind: Deployment
metadata: { name: web-broken, namespace: lab }
spec:
  replicas: 3
  selector: { matchLabels: { app: web-broken } }
  strategy: { type: RollingUpdate, rollingUpdate: { maxSurge: 1, maxUnavailable: 1 } }
  template:
    metadata:
      labels: { app: web-broken }
      annotations:
        ebb.dev/drain-budget: "10s"
        lab.ebb.dev/pod-ip-range: "${range(61, 69)}"
    spec:
      terminationGracePeriodSeconds: 5
      containers:
        - name: web
          image: lab/web:1.0.0
          ports: [{ name: http, containerPort: 8080 }]
        - name: proxy
          image: envoyproxy/envoy:v1.31.0
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: { name: web-broken, namespace: lab }
spec:
  maxUnavailable: 2
  selector: { matchLabels: { app: web-broken } }
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: { name: web-broken, namespace: lab }
spec:
  scaleTargetRef: { apiVersion: apps/v1, kind: Deployment, name: web-broken }
  minReplicas: 1
  maxReplicas: 6
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web-short, namespace: lab }
spec:
  replicas: 1
  selector: { matchLabels: { app: web-short } }
  template:
    metadata:
      labels: { app: web-short }
      annotations:
        ebb.dev/drain-budget: "10s"
        proxy.istio.io/config: "terminationDrainDuration: 2s"
        lab.ebb.dev/pod-ip-range: "${range(71, 79)}"
    spec:
      terminationGracePeriodSeconds: 30
      containers:
        - name: web
          image: lab/web:1.0.0
          ports: [{ name: http, containerPort: 8080 }]
          lifecycle: { preStop: { exec: { command: ["sh", "-c", "sleep 5"] } } }
        - name: istio-proxy
          image: docker.io/istio/proxyv2:1.24.0
`;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe("ebb lint against live workloads in the emulated cluster", () => {
  let ebb: RunningEbb;
  let lab: Awaited<ReturnType<typeof givenLabCluster>>;
  const api = (p: string, init: RequestInit = {}, token = TEST_ADMIN_TOKEN) =>
    fetch(`${ebb.apiUrl}${p}`, {
      ...init,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...init.headers },
    });
  const ebbLint = (args: string[], token = TEST_ADMIN_TOKEN): Promise<Run> => {
    const child = spawn(process.execPath, [BIN, "lint", ...args], {
      env: { PATH: process.env.PATH ?? "", EBB_URL: ebb.apiUrl, EBB_TOKEN: token },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
  };
  const fleetOf = (name: string) => ({
    name,
    balancer: "kubernetes",
    balancerConfig: {
      kubeconfigPath: lab.kubeconfigPath,
      namespace: "lab",
      workload: { kind: "Deployment", name },
      service: name,
      propagationWindowMs: PROPAGATION_MS,
      timeScale: SCALE,
    },
  });

  beforeAll(async () => {
    ebb = await givenEbbWith(async () => {}, NET);
    lab = await givenLabCluster(NET, {
      replicas: 1,
      propagationDelayMs: PROPAGATION_MS - 500,
      deployment: {
        proxy: { host: `127.0.${NET}.1`, port: 0 },
        podFirstHost: `127.0.${NET}.41`,
        replicas: 2,
      },
    });
    await registerLabDeploy(ebb.prisma, lab);
    const applied = await kubectl(
      lab.kubeconfigPath,
      path.join(lab.dir, "kube"),
      ["apply", "-f", "-"],
      BROKEN,
    );
    expect(applied.stderr).toBe("");
    for (const name of ["web-broken", "web-short"]) {
      const res = await api("/fleets", { method: "POST", body: JSON.stringify(fleetOf(name)) });
      expect(res.status, await res.clone().text()).toBe(201);
    }
  });
  afterAll(async () => {
    await lab?.cleanup();
    await ebb?.cleanup();
  });

  it("Given the lab's Deployment with the drain hook, When it is linted, Then nothing is found and the exit code is 0", async () => {
    const run = await ebbLint(["lab-deploy"]);
    expect(run.code, run.stderr + run.stdout).toBe(0);
    expect(run.stdout).toMatch(/^lab-deploy: Deployment lab\/web-deploy: 0 errors, 0 warnings$/m);
    const json = JSON.parse((await ebbLint(["lab-deploy", "--json"])).stdout) as FleetFindingsView;
    expect(json).toMatchObject({ fleet: "lab-deploy", findings: [], unread: [] });
  });

  it("Given a Deployment that breaks the preStop, grace, sidecar, PDB and HPA rules, When it is linted, Then each is found and the exit code is 1", async () => {
    const run = await ebbLint(["web-broken", "--json"]);
    expect(run.code, run.stderr).toBe(1);
    const view = JSON.parse(run.stdout) as FleetFindingsView;
    const found = view.findings.map((f) => [
      f.severity,
      f.rule,
      `${f.object.kind}/${f.object.name}`,
      f.field,
    ]);
    expect(found).toEqual([
      [
        "error",
        "prestop-missing",
        "Deployment/web-broken",
        "spec.template.spec.containers[0].lifecycle.preStop",
      ],
      [
        "error",
        "grace-too-short",
        "Deployment/web-broken",
        "spec.template.spec.terminationGracePeriodSeconds",
      ],
      [
        "error",
        "sidecar-stops-with-app",
        "Deployment/web-broken",
        "spec.template.spec.containers[1].lifecycle.preStop",
      ],
      ["error", "pdb-allows-too-many", "PodDisruptionBudget/web-broken", "spec.maxUnavailable"],
      [
        "warning",
        "hpa-scales-down-too-many",
        "HorizontalPodAutoscaler/web-broken",
        "spec.behavior.scaleDown.policies",
      ],
    ]);
    // The numbers, in the lab's real time (its pod durations are scaled by 0.05).
    const grace = view.findings.find((f) => f.rule === "grace-too-short")!;
    expect(grace.numbers).toEqual({ terminationGracePeriodMs: 250, preStopMs: 0, shutdownBudgetMs: 500 });
    const pdb = view.findings.find((f) => f.rule === "pdb-allows-too-many")!;
    expect(pdb.numbers).toEqual({ allowedDisruptions: 2, fleetLimit: 1, replicas: 3 });
    expect(pdb.fix).toBe("Set spec.maxUnavailable to 1.");

    const text = await ebbLint(["web-broken"]);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/^web-broken: Deployment lab\/web-broken: 4 errors, 1 warning$/m);
    expect(text.stdout).toMatch(/^error +prestop-missing +Deployment lab\/web-broken$/m);
    expect(text.stdout).toMatch(/^ +fix: /m);
  });

  it("Given a preStop shorter than the propagation window and an Istio proxy that drains too briefly, When linted, Then both are errors with their numbers", async () => {
    const run = await ebbLint(["web-short", "--json"]);
    expect(run.code, run.stderr).toBe(1);
    const view = JSON.parse(run.stdout) as FleetFindingsView;
    expect(view.findings.map((f) => [f.rule, f.field, f.numbers])).toEqual([
      [
        "prestop-too-short",
        "spec.template.spec.containers[0].lifecycle.preStop",
        { preStopMs: 250, propagationWindowMs: PROPAGATION_MS },
      ],
      [
        "sidecar-stops-with-app",
        "spec.template.metadata.annotations['proxy.istio.io/config']",
        { sidecarStopMs: 100, appStopMs: 750 },
      ],
    ]);
  });

  it("ebb lint --help (also after the fleet's name) prints its usage and calls nothing; no fleet is bad usage", async () => {
    for (const args of [["--help"], ["web-short", "--help"]]) {
      const run = await ebbLint(args, "no-token");
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toMatch(/^ebb lint FLEET \[--json\]/);
      expect(run.stdout).toMatch(/Exit codes: .*1 the rollout failed or ebb lint found errors/);
    }
    const bare = await ebbLint([]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/expected one fleet name/);
  });

  it("the API route: read scope is enough; an unknown fleet is 404, a fleet that is not Kubernetes 400", async () => {
    const token = await api("/tokens", {
      method: "POST",
      body: JSON.stringify({ name: "lint-reader", scope: "read", expiresInDays: 1 }),
    });
    const read = ((await token.json()) as { token: string }).token;
    const ok = await api("/fleets/web-short/findings", {}, read);
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as FleetFindingsView).workload).toEqual({
      kind: "Deployment",
      namespace: "lab",
      name: "web-short",
    });
    expect((await api("/fleets/nope/findings")).status).toBe(404);
    const l4 = await api("/fleets", {
      method: "POST",
      body: JSON.stringify({
        name: "vms",
        balancer: "l4",
        balancerConfig: { adminUrl: "http://127.0.0.1:9" },
      }),
    });
    expect(l4.status).toBe(201);
    const refused = await api("/fleets/vms/findings");
    expect(refused.status).toBe(400);
    expect(await refused.text()).toMatch(/not a kubernetes fleet|kubernetes fleets/);
    const cli = await ebbLint(["vms"]);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(/findings read the workloads of kubernetes fleets/);
    const anonymous = await fetch(`${ebb.apiUrl}/fleets/web-short/findings`);
    expect(anonymous.status).toBe(401);
    const doc = (await (await fetch(`${new URL(ebb.apiUrl).origin}/api/docs-json`)).json()) as {
      paths: Record<
        string,
        { get?: { responses: Record<string, { content?: Record<string, { schema: unknown }> }> } }
      >;
    };
    const documented = doc.paths["/api/v1/fleets/{name}/findings"]?.get?.responses["200"];
    expect(documented?.content?.["application/json"]?.schema).toMatchObject({
      properties: { findings: { type: "array" }, unread: { type: "array" } },
    });
  });
});
