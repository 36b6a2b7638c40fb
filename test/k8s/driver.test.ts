import {
  type EbbError,
  isEbbError,
  loadBuiltinRunbooks,
  planRollout,
  preflight,
  type Target,
} from "@ebb/core";
import {
  KubernetesBalancer,
  KubernetesFleet,
  LazyKubernetesBalancer,
  parseKubernetesConfig,
} from "@ebb/drivers/kubernetes";
import { K8S_STATEFULSETS, type LabCluster, labPodsFleet } from "@ebb/lab";
import { waitFor } from "@ebb/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  awaitEndpointRemoved,
  awaitReplacementReady,
  deletePodAndWait,
} from "../../packages/drivers/test-support/kubernetes.js";
import { fleetConfig, givenLabCluster, SCALE } from "./support.js";

const target = (lab: LabCluster, name: string): Target => {
  const pod = lab.pods.find((p) => p.name === name)!;
  return { name, host: pod.host, port: pod.port, executor: "local", labels: {} };
};

async function versionOf(host: string, port: number): Promise<string> {
  const res = await fetch(`http://${host}:${port}/`);
  return ((await res.json()) as { version: string }).version;
}

describe("the Kubernetes driver against the lab's cluster (readiness gate)", () => {
  let lab: Awaited<ReturnType<typeof givenLabCluster>>;
  let fleet: KubernetesFleet;

  beforeAll(async () => {
    lab = await givenLabCluster(55);
    fleet = new KubernetesFleet(fleetConfig(lab));
  });
  afterAll(async () => {
    await lab?.cleanup();
  });

  it("lists the workload's pods as targets with their drain facts", async () => {
    const pods = await fleet.pods();
    expect(pods.map((p) => [p.name, p.host, p.port])).toEqual(lab.pods.map((p) => [p.name, p.host, p.port]));
    expect(pods[0]).toMatchObject({
      version: "1.0.0",
      ready: true,
      hasGate: true,
      gate: "True",
      terminationGracePeriodSeconds: 30,
      preStopSeconds: 5,
      sidecar: false,
      terminating: false,
    });
  });

  it("describes the lab's cluster as the lab-pods fleet, in a config the driver accepts", async () => {
    const fleetSpec = labPodsFleet(lab);
    expect(fleetSpec).toMatchObject({ name: "lab-pods", balancer: "kubernetes" });
    expect(fleetSpec.targets.map((t) => t.name)).toEqual(["web-0", "web-1", "web-2"]);
    const config = parseKubernetesConfig(fleetSpec.balancerConfig);
    expect(config).toMatchObject({
      propagationWindowMs: 1_000,
      timeScale: SCALE,
      metrics: { source: "lab-vm" },
    });
    const balancer = new KubernetesBalancer(config);
    const traffic = await balancer.traffic({ ...fleetSpec.targets[2]!, executor: "local", labels: {} });
    expect(traffic).toMatchObject({ activeSessions: 0, newSessions: 0, resets: 0 });
  });

  it("reports the balancer's timing and each pod's state", async () => {
    const balancer = new KubernetesBalancer(fleetConfig(lab));
    expect(await balancer.timing()).toMatchObject({
      healthCheckIntervalMs: 10 * 1000 * SCALE,
      retryCount: 2,
      sessionIdleTimeoutMs: 600,
      mode: "l7",
    });
    expect(await balancer.observe(target(lab, "web-1"))).toMatchObject({ state: "up", bound: true });
  });

  it("drains a pod: gate False, endpoint removed, then the propagation window (computed from the cluster)", async () => {
    const set = await fleet.setReadiness("web-0", false);
    expect(set).toMatchObject({ method: "gate", changed: true });
    expect(set.pod.gate).toBe("False");
    // The process keeps running: only its endpoint goes.
    expect(await versionOf(lab.pods[0]!.host, 8080)).toBe("1.0.0");

    const started = Date.now();
    const removal = await awaitEndpointRemoved(fleet, "web-0", { timeoutMs: 10_000 });
    expect(removal).toMatchObject({ removed: true, propagated: true, remainingMs: 0 });
    expect(removal.endpoint).toMatchObject({ present: true, ready: false, terminating: false });
    expect(Date.now() - started).toBeGreaterThanOrEqual(600 - 50);
    // A fresh driver (a resumed worker) agrees, from the pod's Ready transition time.
    const again = await new KubernetesFleet(fleetConfig(lab)).checkEndpointRemoved("web-0");
    expect(again.propagated).toBe(true);

    const balancer = new KubernetesBalancer(fleetConfig(lab));
    expect(await balancer.observe(target(lab, "web-0"))).toMatchObject({ state: "disabled", bound: false });
    // Idempotent: a second call changes nothing.
    expect((await fleet.setReadiness("web-0", false)).changed).toBe(false);
  });

  it("refuses to delete a pod that is still in service", async () => {
    const err = await fleet.deletePod("web-1").catch((e: unknown) => e);
    expect(isEbbError(err, "step_failed")).toBe(true);
    expect((err as EbbError).message).toContain("still in service");
  });

  it("deploys: new template (OnDelete), delete with grace, replacement at the version, ready and in the slices", async () => {
    const stepStarted = Date.now();
    const { revision, changed } = await fleet.setTemplateVersion("2.0.0");
    expect(changed).toBe(true);
    expect(revision).toMatch(/^web-/);
    // OnDelete: nothing restarted by the template change.
    expect((await fleet.pods()).every((p) => p.version === "1.0.0")).toBe(true);

    const oldUid = (await fleet.pod("web-0"))!.uid;
    const deleted = await deletePodAndWait(fleet, "web-0");
    expect(deleted).toMatchObject({ outcome: "deleted", uid: oldUid });
    // preStop (5 s) ran before SIGTERM.
    expect(deleted.waitedMs).toBeGreaterThanOrEqual(5 * 1000 * SCALE);

    const replacement = await awaitReplacementReady(fleet, "web-0", "2.0.0", { timeoutMs: 15_000 });
    expect(replacement.uid).not.toBe(oldUid);
    expect(replacement).toMatchObject({
      version: "2.0.0",
      ready: true,
      gate: "True",
      host: lab.pods[0]!.host,
    });
    expect(await versionOf(replacement.host, 8080)).toBe("2.0.0");
    expect((await fleet.endpoint("web-0")).ready).toBe(true);

    // A resumed k8s.deletePod finds the replacement (another uid, created since the step began) and leaves it.
    expect(await fleet.deletePod("web-0", { uid: oldUid })).toMatchObject({
      outcome: "replaced",
      uid: replacement.uid,
    });
    expect(await fleet.deletePod("web-0", { since: stepStarted })).toMatchObject({ outcome: "replaced" });
    expect((await fleet.pod("web-0"))?.uid).toBe(replacement.uid);
  });

  it("reads the pods' drain facts live, in the units preflight takes (real ms), and they pass it", async () => {
    const balancer = new KubernetesBalancer(fleetConfig(lab, { frontProxyIdleTimeoutMs: 2_000 }));
    const targets = lab.pods.map((p) => target(lab, p.name));
    const live = await balancer.liveFacts(targets);
    expect(live.balancer).toEqual({ frontProxyIdleTimeoutMs: 2_000, workload: "StatefulSet" });
    // The template's vendor numbers (grace 30 s, preStop 5 s, keep-alive 75 s, drain 10 s) at the time scale.
    expect(live.targets["web-1"]).toEqual({
      host: lab.pods[1]!.host,
      port: 8080,
      keepAliveTimeoutMs: 75 * 1000 * SCALE,
      backgroundWorkBudgetMs: 10 * 1000 * SCALE,
      pod: {
        terminationGracePeriodMs: 30 * 1000 * SCALE,
        preStopMs: 5 * 1000 * SCALE,
        readinessGate: true,
        labelFallback: true,
        sidecar: false,
      },
    });
    // Merged over the stored facts as create-rollout would, the built-in runbook passes preflight.
    const runbook = loadBuiltinRunbooks()["k8s-pod-drain"];
    const timing = await balancer.timing();
    const facts = targets.map((t) => ({ ...t, ...live.targets[t.name], inService: true }));
    const plan = planRollout({ targets: facts, strategy: { maxUnavailable: 1 }, timing, runbook });
    const balancerFacts = { kind: balancer.kind, timing, ...live.balancer };
    expect(preflight({ runbook, fleet: { targets: facts }, balancer: balancerFacts, plan })).toEqual([]);
    // An ingress keeping idle connections longer than the pods do is flagged.
    const slow = { ...balancerFacts, frontProxyIdleTimeoutMs: 60_000 };
    expect(
      preflight({ runbook, fleet: { targets: facts }, balancer: slow, plan }).map((f) => f.code),
    ).toEqual([
      "pool_idle_not_below_keepalive",
      "pool_idle_not_below_keepalive",
      "pool_idle_not_below_keepalive",
    ]);
  });

  it("counts a pod's sessions and requests for live views and quiet checks, never its own scrapes", async () => {
    const balancer = new KubernetesBalancer(fleetConfig(lab, { metrics: { source: "lab-vm" } }));
    const web1 = target(lab, "web-1");
    const before = (await balancer.snapshot([web1]))[0]!;
    expect(before).toMatchObject({ name: "web-1", state: "up", bound: true, sessions: 0 });
    await balancer.traffic(web1);
    // Scrapes and the kubelet's probes only: quiet.
    expect(await balancer.traffic(web1)).toMatchObject({ newSessions: 0, requests: 0, activeSessions: 0 });
    await versionOf(web1.host, web1.port);
    await versionOf(web1.host, web1.port);
    expect(await balancer.traffic(web1)).toMatchObject({ newSessions: 2, requests: 2 });
    const after = (await balancer.snapshot([web1]))[0]!;
    expect(after.sessionsOpened - before.sessionsOpened).toBe(2);
    expect((after.requests ?? 0) - (before.requests ?? 0)).toBe(2);
  });

  it("restores an aborted drain: a pod still there is put back, a deleted one's replacement is let in", async () => {
    await fleet.setReadiness("web-1", false);
    await awaitEndpointRemoved(fleet, "web-1", { timeoutMs: 10_000 });
    const back = await fleet.restore("web-1", { timeoutMs: 10_000 });
    expect(back).toMatchObject({ gate: "True", ready: true });
    expect((await fleet.endpoint("web-1")).ready).toBe(true);

    const old = (await fleet.pod("web-2"))!.uid;
    await fleet.setReadiness("web-2", false);
    await fleet.deletePod("web-2", { wait: false });
    const replaced = (await fleet.restore("web-2", { timeoutMs: 15_000 }))!;
    expect(replaced.uid).not.toBe(old);
    expect(replaced).toMatchObject({ ready: true, gate: "True" });
    expect((await fleet.endpoint("web-2")).uid).toBe(replaced.uid);
  });

  it("loads the client only when a lazy balancer is first used, with the config checked up front", async () => {
    expect(() => new LazyKubernetesBalancer({ ...fleetConfig(lab), service: "" })).toThrow(
      /balancerConfig\.service/,
    );
    const lazy = new LazyKubernetesBalancer(fleetConfig(lab));
    expect(lazy.kind).toBe("kubernetes");
    expect(await lazy.observe(target(lab, "web-1"))).toMatchObject({ state: "up", bound: true });
    expect(await lazy.fleet()).toBe(await lazy.fleet());
  });

  it("maps configuration and connectivity problems to EbbErrors", async () => {
    expect(() => new KubernetesFleet({ ...fleetConfig(lab), context: "nope" })).toThrow(/no context "nope"/);
    expect(() => new KubernetesFleet({ ...fleetConfig(lab), propagationWindowMs: -1 })).toThrow(
      /balancerConfig\.propagationWindowMs/,
    );
    const deployment = new KubernetesFleet({
      ...fleetConfig(lab),
      workload: { kind: "Deployment", name: "web" },
    });
    // A Deployment fleet is driven (deployment.ts); this cluster has no Deployment of that name.
    await expect(deployment.pods()).rejects.toMatchObject({ code: "not_found" });
    const missing = await fleet.setReadiness("web-9", false).catch((e: unknown) => e);
    expect(isEbbError(missing, "not_found")).toBe(true);
  });
});

describe("the Kubernetes driver, fallback and gate ownership", () => {
  let lab: Awaited<ReturnType<typeof givenLabCluster>>;

  beforeAll(async () => {
    // No readiness gate on the template (the label flip is the only way out), no controller for the gate.
    lab = await givenLabCluster(56, { replicas: 2, readinessGate: false, gateController: false });
  });
  afterAll(async () => {
    await lab?.cleanup();
  });

  it("takes a pod without the gate out by flipping the Service-selector label, and puts it back", async () => {
    const fleet = new KubernetesFleet(fleetConfig(lab));
    const out = await fleet.setReadiness("web-1", false);
    expect(out).toMatchObject({ method: "label", changed: true });
    expect(out.pod.servingLabel).toBe("false");
    const removal = await awaitEndpointRemoved(fleet, "web-1", { timeoutMs: 10_000 });
    // Not selected any more: gone from the slices altogether, while the pod runs on.
    expect(removal.endpoint.present).toBe(false);
    expect((await fleet.pod("web-1"))?.phase).toBe("Running");
    // The removal time is recorded on the pod (a label has none): a fresh driver computes the same window.
    expect((await new KubernetesFleet(fleetConfig(lab)).checkEndpointRemoved("web-1")).propagated).toBe(true);

    expect(await fleet.setReadiness("web-1", true)).toMatchObject({ method: "label", changed: true });
    const back = await fleet.checkEndpointRemoved("web-1");
    expect(back.removed).toBe(false);
  });

  it("sets the gate True on a replacement born without it", async () => {
    // The template gains the gate; nothing but Ebb sets it (no gate controller in this cluster).
    const fleet = new KubernetesFleet(fleetConfig(lab));
    lab.cluster.registry.patch(K8S_STATEFULSETS, "lab", "web", "application/strategic-merge-patch+json", {
      spec: { template: { spec: { readinessGates: [{ conditionType: "ebb.dev/serving" }] } } },
    });
    await fleet.setTemplateVersion("3.0.0");
    await fleet.setReadiness("web-0", false);
    await awaitEndpointRemoved(fleet, "web-0", { timeoutMs: 10_000 });
    // The non-blocking form a waiting step uses: issue the delete, then re-check.
    const issued = await fleet.deletePod("web-0", { wait: false });
    expect(issued.outcome).toBe("deleting");
    await waitFor(() => fleet.checkPodGone("web-0", issued.uid!), {
      timeoutMs: 15_000,
      what: "old web-0 gone",
    });
    const ready = await awaitReplacementReady(fleet, "web-0", "3.0.0", { timeoutMs: 15_000 });
    expect(ready).toMatchObject({ hasGate: true, gate: "True", ready: true, version: "3.0.0" });
  });
});
