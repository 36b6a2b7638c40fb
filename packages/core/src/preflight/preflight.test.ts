import { describe, expect, it } from "vitest";
import {
  type BalancerFacts,
  type BalancerTiming,
  DEFAULT_L4_TIMING,
  type PodTargetFacts,
  type TargetFacts,
} from "../facts.js";
import type { Finding, FindingCode } from "../findings.js";
import { planRollout, type RolloutPlan } from "../plan/planner.js";
import { loadBuiltinRunbooks } from "../runbook/builtins.js";
import { parseRunbookOrThrow } from "../runbook/parse.js";
import type { Runbook } from "../runbook/schema.js";
import { preflight } from "./preflight.js";

const builtins = loadBuiltinRunbooks();

/** The lab: 4 VMs behind the L4 device, nginx's 75 s keep-alive (below the 600 s aging), 30 s stop budget. */
function labFleet(count = 4, patch: Partial<TargetFacts> = {}): TargetFacts[] {
  return Array.from({ length: count }, (_, i) => ({
    name: `vm${i + 1}`,
    host: `127.0.0.${11 + i}`,
    port: 8080,
    inService: true,
    keepAliveTimeoutMs: 75_000,
    backgroundWorkBudgetMs: 30_000,
    ...patch,
  }));
}

function run(opts: {
  runbook?: Runbook;
  targets?: TargetFacts[];
  timing?: Partial<BalancerTiming>;
  balancer?: Partial<BalancerFacts>;
  plan?: RolloutPlan;
}): Finding[] {
  const runbook = opts.runbook ?? builtins["l4-drain"];
  const targets = opts.targets ?? labFleet();
  const timing = { ...DEFAULT_L4_TIMING, ...opts.timing };
  const balancer: BalancerFacts = { kind: "l4", timing, ...opts.balancer };
  const plan = opts.plan ?? planRollout({ targets, strategy: { maxUnavailable: 1 }, timing, runbook });
  return preflight({ runbook, fleet: { targets }, balancer, plan });
}

function codes(findings: Finding[]): [string, FindingCode][] {
  return findings.map((f) => [f.severity, f.code]);
}

function runbookWith(steps: string): Runbook {
  return parseRunbookOrThrow(`apiVersion: ebb/v1\nkind: Runbook\nname: t\nbalancer: l4\nsteps:\n${steps}`);
}

describe("preflight", () => {
  it("the built-in l4-drain on a healthy lab fleet finds nothing", () => {
    expect(run({})).toEqual([]);
  });

  it("the built-in l4-drain-l4check behind an L4-mode check finds nothing", () => {
    expect(run({ runbook: builtins["l4-drain-l4check"], timing: { mode: "l4" } })).toEqual([]);
  });

  it("flags any sleep: observe instead", () => {
    const runbook = runbookWith(`  - { id: fail, type: exec, run: [ebb-vm, health, fail] }
  - { id: wait, type: sleep, duration: 30s }
  - { id: unbound, type: balancer.awaitUnbound }
  - { id: stop, type: exec, run: [ebb-vm, stop], timeout: 45s }
`);
    const findings = run({ runbook });
    expect(codes(findings)).toEqual([["warning", "sleep_instead_of_observe"]]);
    expect(findings[0]).toMatchObject({
      stepId: "wait",
      message: expect.stringContaining("balancer.awaitUnbound"),
    });
  });

  it("a sleep shorter than the detection window while waiting for the unbind is an error", () => {
    const runbook = runbookWith(`  - { id: fail, type: exec, run: [ebb-vm, health, fail] }
  - { id: wait, type: sleep, duration: 15s }
  - { id: unbound, type: balancer.awaitUnbound }
  - { id: stop, type: exec, run: [ebb-vm, stop], timeout: 45s }
`);
    const findings = run({ runbook });
    expect(codes(findings)).toEqual([
      ["error", "sleep_shorter_than_detection"],
      ["warning", "sleep_instead_of_observe"],
    ]);
    expect(findings[0]?.message).toContain("25s");
  });

  it("a stop before an observed unbind is an error with an L7 check", () => {
    const findings = run({ runbook: builtins["l4-drain-l4check"] });
    expect(codes(findings)).toEqual([["error", "stop_before_unbind"]]);
    expect(findings[0]?.stepId).toBe("stop");
  });

  it("with an L4 check the stop may unbind, but the unbind must then be observed", () => {
    const runbook = runbookWith(`  - { id: stop, type: exec, run: [systemctl, stop, nginx], timeout: 45s }
  - { id: deploy, type: exec, run: [ebb-vm, deploy] }
  - { id: start, type: exec, run: [systemctl, start, nginx] }
  - { id: unbound, type: balancer.awaitUnbound }
`);
    const findings = run({ runbook, timing: { mode: "l4" } });
    expect(codes(findings)).toEqual([["error", "unbind_not_observed"]]);
  });

  it("failing the health-check file is useless behind an L4 check", () => {
    const findings = run({ timing: { mode: "l4" } });
    expect(codes(findings)).toEqual([["error", "health_check_step_ineffective"]]);
    expect(findings[0]?.stepId).toBe("fail-health-check");
  });

  it("a batch plan that breaks minHealthy is an error", () => {
    const targets = labFleet();
    const plan: RolloutPlan = {
      ...planRollout({
        targets,
        strategy: { maxUnavailable: 2 },
        timing: DEFAULT_L4_TIMING,
        runbook: builtins["l4-drain"],
      }),
    };
    plan.limits = { ...plan.limits, minHealthy: 3 };
    expect(plan.batches.map((b) => b.length)).toEqual([2, 2]);
    const findings = run({ targets, plan });
    expect(codes(findings)).toEqual([
      ["error", "plan_breaks_min_healthy"],
      ["error", "plan_breaks_min_healthy"],
    ]);
    expect(findings[0]?.message).toContain("only 2 target(s) stay in service, minHealthy is 3");
  });

  it("a plan made before a target went down exceeds maxUnavailable now", () => {
    const plan = planRollout({
      targets: labFleet(),
      strategy: { maxUnavailable: 1 },
      timing: DEFAULT_L4_TIMING,
      runbook: builtins["l4-drain"],
    });
    const now = labFleet().map((t) => (t.name === "vm4" ? { ...t, inService: false } : t));
    const findings = run({ targets: now, plan });
    expect(codes(findings)).toEqual([
      ["error", "plan_exceeds_max_unavailable"],
      ["error", "plan_exceeds_max_unavailable"],
      ["error", "plan_exceeds_max_unavailable"],
    ]);
  });

  it("a plan naming a target outside the fleet is an error", () => {
    const plan = planRollout({
      targets: labFleet(5),
      strategy: { maxUnavailable: 1 },
      timing: DEFAULT_L4_TIMING,
      runbook: builtins["l4-drain"],
    });
    expect(codes(run({ plan }))).toContainEqual(["error", "plan_unknown_target"]);
  });

  it("(b) a keep-alive not below the device's session aging is flagged: a longer keep-alive is the danger", () => {
    const targets = labFleet(2).map((t) => (t.name === "vm2" ? { ...t, keepAliveTimeoutMs: 605_000 } : t));
    const findings = run({ targets });
    expect(codes(findings)).toEqual([["warning", "idle_outlives_session_aging"]]);
    expect(findings[0]).toMatchObject({ target: "vm2" });
    expect(findings[0]?.message).toContain("up to 10m5s (vm2's keep-alive timeout (10m5s))");
    expect(findings[0]?.message).toContain("session aging (10m)");
    expect(findings[0]?.message).toContain("Lower the keep-alive timeout below 10m (e.g. 9m59s)");
    // Equal is not below: the device and the target race to forget the connection.
    expect(codes(run({ targets: labFleet(1, { keepAliveTimeoutMs: 600_000 }) }))).toEqual([
      ["warning", "idle_outlives_session_aging"],
    ]);
    // A short keep-alive is the safe case (the target's FIN clears the entry), however short.
    expect(run({ targets: labFleet(2, { keepAliveTimeoutMs: 10_000 }) })).toEqual([]);
    // The aging is the device's: a longer one lets the same keep-alive pass.
    expect(
      run({
        targets: labFleet(1, { keepAliveTimeoutMs: 605_000 }),
        timing: { sessionIdleTimeoutMs: 900_000 },
      }),
    ).toEqual([]);
  });

  it("(a) a pooling proxy that keeps idle connections as long as the target's keep-alive or longer is flagged", () => {
    // The field case: proxy pool 300 s in front of nginx's 10 s keep-alive, through the L4 device.
    const findings = run({
      targets: labFleet(1, { keepAliveTimeoutMs: 10_000, poolIdleTimeoutMs: 300_000 }),
    });
    expect(codes(findings)).toEqual([["warning", "pool_idle_not_below_keepalive"]]);
    expect(findings[0]).toMatchObject({ target: "vm1" });
    expect(findings[0]?.message).toContain("up to 5m, not less than the target's keep-alive timeout (10s)");
    expect(findings[0]?.message).toContain("lower its idle timeout below 10s (e.g. 9s)");
    expect(findings[0]?.message).toContain("raise the target's keep-alive above it (e.g. 5m1s), still below");
    // The pool gives up first and both stay below the aging: nothing to say.
    expect(
      run({ targets: labFleet(2, { keepAliveTimeoutMs: 301_000, poolIdleTimeoutMs: 300_000 }) }),
    ).toEqual([]);
    // A proxy declared for the whole fleet counts for every target; a target's own declaration wins.
    const fleetWide = run({ balancer: { frontProxyIdleTimeoutMs: 90_000 } });
    expect(codes(fleetWide)).toEqual(Array(4).fill(["warning", "pool_idle_not_below_keepalive"]));
    const own = labFleet(2).map((t) => (t.name === "vm1" ? { ...t, poolIdleTimeoutMs: 60_000 } : t));
    expect(codes(run({ targets: own, balancer: { frontProxyIdleTimeoutMs: 90_000 } }))).toEqual([
      ["warning", "pool_idle_not_below_keepalive"],
    ]);
  });

  it("(a) + (b) through the L4 device: the fix for each hop, with the aging capping the keep-alive", () => {
    // Pool 20 m, keep-alive 15 m, aging 10 m: the target closes first (a), and too late for the device (b).
    const both = run({ targets: labFleet(1, { keepAliveTimeoutMs: 900_000, poolIdleTimeoutMs: 1_200_000 }) });
    expect(codes(both)).toEqual([
      ["warning", "pool_idle_not_below_keepalive"],
      ["warning", "idle_outlives_session_aging"],
    ]);
    // Raising the keep-alive above the pool would outlive the aging: only lowering the pool fixes (a).
    expect(both[0]?.message).toContain(
      "raising the keep-alive instead would outlive the device's 10m session aging",
    );
    expect(both[1]?.message).toContain("Lower the keep-alive timeout below 10m");
    expect(both[1]?.message).toContain("keep the pool's idle timeout below that");
    // The pool closes first, but only after the aging: the pool is what must come down.
    const pool = run({ targets: labFleet(1, { keepAliveTimeoutMs: 3_600_000, poolIdleTimeoutMs: 900_000 }) });
    expect(codes(pool)).toEqual([["warning", "idle_outlives_session_aging"]]);
    expect(pool[0]?.message).toContain("up to 15m (the pooling proxy's idle timeout (15m))");
    expect(pool[0]?.message).toContain("Lower the pool's idle timeout below 10m");
  });

  it("warns about resetOnPortFail, more strongly on a large fleet", () => {
    const small = run({ timing: { resetOnPortFail: true } });
    expect(codes(small)).toEqual([["warning", "reset_on_port_fail"]]);
    expect(small[0]?.message).not.toContain("mass failure");
    const large = run({ timing: { resetOnPortFail: true }, targets: labFleet(12) });
    expect(large[0]?.message).toContain("With 12 targets a mass failure");
  });

  it("a stop deadline shorter than a target's background-work budget is an error", () => {
    const targets = labFleet(2).map((t) => (t.name === "vm1" ? { ...t, backgroundWorkBudgetMs: 60_000 } : t));
    const findings = run({ targets });
    expect(codes(findings)).toEqual([["error", "stop_deadline_too_short"]]);
    expect(findings[0]).toMatchObject({ stepId: "stop", target: "vm1" });
  });

  it("a runbook written for another balancer is an error: its steps would act on the wrong kind of target", () => {
    const findings = run({ balancer: { kind: "kubernetes" } });
    expect(codes(findings)).toEqual([["error", "runbook_balancer_mismatch"]]);
    expect(findings[0]?.message).toContain("written for a l4 balancer; this fleet is behind kubernetes");
  });

  it("l4-drain runs unchanged behind HAProxy, and haproxy-drain behind it finds nothing", () => {
    const haproxy = { kind: "haproxy" as const };
    const timing = { healthCheckIntervalMs: 2000, retryCount: 2, riseCount: 2, checkTimeoutMs: 2000 };
    expect(run({ balancer: haproxy, timing })).toEqual([]);
    expect(run({ runbook: builtins["haproxy-drain"], balancer: haproxy, timing })).toEqual([]);
  });

  it("includes the plan's own findings", () => {
    const targets = labFleet(4).map((t) => (t.name === "vm1" ? { ...t, inService: false } : t));
    expect(codes(run({ targets }))).toEqual([
      ["error", "no_capacity"],
      ["warning", "target_out_of_service"],
    ]);
  });
});

/** The lab-pods fleet: 4 pods with Ebb's gate, preStop 5 s, grace 30 s, a 10 s drain budget (real durations). */
function podFleet(
  count = 4,
  pod: Partial<PodTargetFacts> = {},
  patch: Partial<TargetFacts> = {},
): TargetFacts[] {
  return Array.from({ length: count }, (_, i) => ({
    name: `web-${i}`,
    host: `127.0.0.${21 + i}`,
    port: 8080,
    inService: true,
    keepAliveTimeoutMs: 75_000,
    backgroundWorkBudgetMs: 10_000,
    pod: {
      terminationGracePeriodMs: 30_000,
      preStopMs: 5_000,
      readinessGate: true,
      labelFallback: true,
      sidecar: false,
      ...pod,
    },
    ...patch,
  }));
}

/** A readiness probe every 10 s; the proxies lag up to 2.5 s behind the EndpointSlices. */
const POD_TIMING: BalancerTiming = {
  healthCheckIntervalMs: 10_000,
  retryCount: 2,
  checkTimeoutMs: 1_000,
  sessionIdleTimeoutMs: 2_500,
  mode: "l7",
  resetOnPortFail: false,
  propagationWindowMs: 2_500,
};

function runPods(
  opts: { runbook?: Runbook; targets?: TargetFacts[]; balancer?: Partial<BalancerFacts> } = {},
): Finding[] {
  return run({
    runbook: opts.runbook ?? builtins["k8s-pod-drain"],
    targets: opts.targets ?? podFleet(),
    timing: POD_TIMING,
    balancer: { kind: "kubernetes", ...opts.balancer },
  });
}

function podRunbookWith(steps: string): Runbook {
  return parseRunbookOrThrow(
    `apiVersion: ebb/v1\nkind: Runbook\nname: t\nbalancer: kubernetes\nsteps:\n${steps}`,
  );
}

describe("preflight for pods (k8s-pod-drain)", () => {
  it("the built-in k8s-pod-drain on a healthy pod fleet finds nothing", () => {
    expect(runPods()).toEqual([]);
  });

  it("a grace period shorter than preStop plus the app's drain budget is an error", () => {
    const targets = podFleet(2).map((t) =>
      t.name === "web-1" ? { ...t, pod: { ...t.pod!, terminationGracePeriodMs: 12_000 } } : t,
    );
    const findings = runPods({ targets });
    expect(codes(findings)).toEqual([["error", "grace_period_too_short"]]);
    expect(findings[0]).toMatchObject({ target: "web-1", stepId: "delete-pod" });
    expect(findings[0]?.message).toContain("grace period 12s is not longer than its preStop (5s) plus");
    // Without a known drain budget, a grace period that preStop alone uses up is still an error.
    const bare = podFleet(1, { terminationGracePeriodMs: 5_000 }, { backgroundWorkBudgetMs: undefined });
    expect(codes(runPods({ targets: bare }))).toEqual([["error", "grace_period_too_short"]]);
  });

  it("a delete step that gives up before the pod's grace period is over is an error", () => {
    const targets = podFleet(1, { terminationGracePeriodMs: 120_000 });
    const findings = runPods({ targets });
    expect(codes(findings)).toEqual([["error", "stop_deadline_too_short"]]);
    expect(findings[0]?.message).toContain("delete-pod gives up after 1m30s");
  });

  it("pods without the readiness gate: a warning where the label flip works, an error where nothing does", () => {
    const labelled = runPods({ targets: podFleet(1, { readinessGate: false }) });
    expect(codes(labelled)).toEqual([["warning", "readiness_gate_missing"]]);
    expect(labelled[0]).toMatchObject({ target: "web-0", stepId: "take-out" });
    expect(labelled[0]?.message).toContain("flipping its Service-selector label");
    const stuck = runPods({ targets: podFleet(1, { readinessGate: false, labelFallback: false }) });
    expect(codes(stuck)).toEqual([["error", "readiness_gate_missing"]]);
  });

  it("a mesh sidecar without a preStop delay is an error (its clients get 503 once the app exited)", () => {
    expect(runPods({ targets: podFleet(1, { sidecar: true }) })).toEqual([]);
    const findings = runPods({ targets: podFleet(2, { sidecar: true, preStopMs: 0 }) });
    expect(codes(findings)).toEqual([
      ["error", "sidecar_without_prestop"],
      ["error", "sidecar_without_prestop"],
    ]);
    expect(findings[0]?.message).toContain("503");
  });

  it("a proxy pooling connections to pods for as long as their keep-alive or longer is a warning", () => {
    // kube-proxy keeps no idle table: the propagation window (reported as the session idle time) is no aging.
    expect(runPods({ targets: podFleet(1, {}, { keepAliveTimeoutMs: 1_000 }) })).toEqual([]);
    expect(runPods({ targets: podFleet(1, {}, { keepAliveTimeoutMs: 3_600_000 }) })).toEqual([]);
    const findings = runPods({
      targets: podFleet(2, {}, { keepAliveTimeoutMs: 60_000 }),
      balancer: { frontProxyIdleTimeoutMs: 60_000 },
    });
    expect(codes(findings)).toEqual([
      ["warning", "pool_idle_not_below_keepalive"],
      ["warning", "pool_idle_not_below_keepalive"],
    ]);
    expect(findings[0]?.message).toContain(
      "keeps idle connections up to 1m, not less than the target's keep-alive timeout (1m)",
    );
    // No session table to cap the keep-alive behind kube-proxy.
    expect(findings[0]?.message).toMatch(/raise the target's keep-alive above it \(e\.g\. 1m1s\)$/);
  });

  it("deleting a pod before its removal was observed is an error, however it is taken out", () => {
    const plain = podRunbookWith(`  - { id: delete, type: k8s.deletePod, allowInService: true }
  - { id: replaced, type: k8s.awaitReplacementReady }
`);
    const findings = runPods({ runbook: plain });
    expect(codes(findings)).toEqual([["error", "stop_before_unbind"]]);
    expect(findings[0]).toMatchObject({ stepId: "delete" });
    expect(findings[0]?.message).toContain("k8s.awaitEndpointRemoved");
    const guessed = podRunbookWith(`  - { id: out, type: k8s.setReadiness }
  - { id: wait, type: sleep, duration: 1s }
  - { id: delete, type: k8s.deletePod }
`);
    expect(codes(runPods({ runbook: guessed }))).toEqual([
      ["error", "sleep_shorter_than_detection"],
      ["error", "stop_before_unbind"],
      ["warning", "sleep_instead_of_observe"],
    ]);
  });

  it("k8s steps behind another balancer cannot run", () => {
    const findings = run({ runbook: builtins["k8s-pod-drain"] });
    expect(codes(findings)).toEqual([
      ["error", "runbook_balancer_mismatch"],
      ["error", "step_balancer_mismatch"],
      ["error", "step_balancer_mismatch"],
      ["error", "step_balancer_mismatch"],
      ["error", "step_balancer_mismatch"],
    ]);
  });
});

describe("preflight of strategy.maxSurge", () => {
  const surgePlan = (targets: TargetFacts[], runbook: Runbook, maxSurge: number | string) =>
    planRollout({ targets, strategy: { maxUnavailable: 1, maxSurge }, timing: POD_TIMING, runbook });

  it("a Deployment fleet may surge; 0 (the default) is fine anywhere", () => {
    const targets = podFleet();
    const runbook = builtins["k8s-pod-drain"];
    const findings = run({
      runbook,
      targets,
      timing: POD_TIMING,
      balancer: { kind: "kubernetes", workload: "Deployment" },
      plan: surgePlan(targets, runbook, 1),
    });
    expect(findings).toEqual([]);
    const sts = run({
      runbook,
      targets,
      timing: POD_TIMING,
      balancer: { kind: "kubernetes", workload: "StatefulSet" },
      plan: surgePlan(targets, runbook, 0),
    });
    expect(sts).toEqual([]);
    expect(
      run({
        plan: planRollout({
          targets: labFleet(),
          strategy: { maxUnavailable: 1, maxSurge: "0%" },
          timing: DEFAULT_L4_TIMING,
          runbook: builtins["l4-drain"],
        }),
      }),
    ).toEqual([]);
  });

  it("a StatefulSet fleet cannot: an error naming the field and the fixed pod names", () => {
    const targets = podFleet();
    const runbook = builtins["k8s-pod-drain"];
    const findings = run({
      runbook,
      targets,
      timing: POD_TIMING,
      balancer: { kind: "kubernetes", workload: "StatefulSet" },
      plan: surgePlan(targets, runbook, "25%"),
    });
    expect(codes(findings)).toEqual([["error", "max_surge_unsupported"]]);
    expect(findings[0]?.message).toMatch(
      /^strategy\.maxSurge is 1, but this fleet cannot surge: a StatefulSet's pods have fixed names/,
    );
  });

  it("a VM fleet cannot: an error naming the field and the missing spare servers", () => {
    const targets = labFleet();
    const runbook = builtins["l4-drain"];
    const plan = planRollout({
      targets,
      strategy: { maxUnavailable: 1, maxSurge: 2 },
      timing: DEFAULT_L4_TIMING,
      runbook,
    });
    const findings = run({ targets, plan });
    expect(codes(findings)).toEqual([["error", "max_surge_unsupported"]]);
    expect(findings[0]?.message).toMatch(/strategy\.maxSurge is 2, .*a VM fleet has no spare servers/);
  });
});
