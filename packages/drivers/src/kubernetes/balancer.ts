import {
  type Balancer,
  type BalancerAdmin,
  type BalancerTargetState,
  type BalancerTiming,
  type DiscoveredTarget,
  EbbError,
  errorFinding,
  type Finding,
  type LiveFleetFacts,
  type PodControl,
  type Target,
  type TargetObservation,
  type TargetSnapshot,
  type TrafficSample,
  type WorkloadLint,
} from "@ebb/core";
import type { KubernetesConfig, KubernetesConfigInput } from "./config.js";
import { KubernetesFleet } from "./fleet.js";
import type { KubeClients } from "./kube.js";
import { lintFleetWorkload } from "./lint.js";
import { PodTrafficMeter, readMetrics } from "./metrics.js";
import { type EndpointView, endpointOf, type PodFacts } from "./pods.js";

/** Out by Ebb (gate False / label flipped): disabled; otherwise not ready: failed; not listed: unknown. */
export function stateOf(pod: PodFacts | null, endpoint: EndpointView, gateOut: boolean): BalancerTargetState {
  if (!pod || !endpoint.present) return gateOut ? "disabled" : "unknown";
  if (endpoint.ready) return "up";
  return gateOut ? "disabled" : "failed";
}

/**
 * Kubernetes as a Balancer: a Service and its EndpointSlices in front of a workload's pods. A target is a pod
 * (by name). `observe` reads the pod's endpoint; `disable`/`enable` are Ebb's readiness gate (or label flip);
 * `traffic` comes from a per-pod metrics endpoint (Envoy sidecar stats or the app's own), when configured.
 */
export class KubernetesBalancer implements Balancer {
  readonly kind = "kubernetes" as const;
  readonly fleet: KubernetesFleet;
  private readonly meter = new PodTrafficMeter();

  constructor(
    config: KubernetesConfig | KubernetesConfigInput,
    opts: { clients?: KubeClients; now?: () => number } = {},
  ) {
    this.fleet = new KubernetesFleet(config, opts);
  }

  private get config(): KubernetesConfig {
    return this.fleet.config;
  }

  /**
   * The readiness probe of the workload's template, time-scaled: how fast a failing pod leaves the endpoints
   * on its own. kube-proxy keeps no idle-session table (a connection lives until an end closes it), so the
   * time during which NEW sessions may still reach a removed pod is the propagation window: that is what
   * sessionIdleTimeoutMs reports.
   */
  async timing(): Promise<BalancerTiming> {
    const sts = await this.fleet.workload.workloadObject();
    const containers = sts.spec?.template?.spec?.containers ?? [];
    const probe = containers.find((c) => c.readinessProbe)?.readinessProbe;
    const scaled = (s: number) => Math.round(s * 1000 * this.config.timeScale);
    return {
      healthCheckIntervalMs: scaled(probe?.periodSeconds ?? 10),
      retryCount: Math.max(0, (probe?.failureThreshold ?? 3) - 1),
      checkTimeoutMs: scaled(probe?.timeoutSeconds ?? 1),
      sessionIdleTimeoutMs: this.config.propagationWindowMs,
      mode: probe?.tcpSocket && !probe.httpGet ? "l4" : "l7",
      resetOnPortFail: false,
      propagationWindowMs: this.config.propagationWindowMs,
    };
  }

  async observe(target: Target): Promise<TargetObservation> {
    const [pod, slices] = await Promise.all([this.fleet.pod(target.name), this.fleet.slices()]);
    const endpoint = endpointOf(slices, target.name);
    const state = stateOf(pod, endpoint, pod ? await this.takenOut(pod) : false);
    let sessions = 0;
    if (pod && this.config.metrics && pod.host) {
      sessions = await readMetrics(this.config.metrics, pod, this.config.requestTimeoutMs).then(
        (m) => m.activeSessions,
        () => 0,
      );
    }
    return { state, bound: endpoint.present && endpoint.ready, sessions };
  }

  /** Ebb's readiness gate (or the selector label's flip). */
  readonly admin: BalancerAdmin = {
    disable: async (target) => {
      await this.fleet.setReadiness(target.name, false);
    },
    enable: async (target) => {
      await this.fleet.setReadiness(target.name, true);
    },
  };

  readonly pods = (): Promise<PodControl> => Promise.resolve(this.fleet);

  async traffic(target: Target): Promise<TrafficSample> {
    const pod = await this.fleet.pod(target.name);
    if (!pod)
      throw new EbbError("not_found", `pod ${target.name} does not exist`, {
        details: { target: target.name },
      });
    if (!this.config.metrics || !pod.host) {
      // No source configured: nothing observed is reported as nothing, never as "quiet" evidence of more.
      return { at: new Date().toISOString(), activeSessions: 0, newSessions: 0, resets: 0 };
    }
    const reading = await readMetrics(this.config.metrics, pod, this.config.requestTimeoutMs);
    return this.meter.sample(pod, reading, new Date());
  }

  /**
   * Every target's cumulative counters from one pod list, one slice list and one scrape per pod, for live
   * views. A replaced pod's counters start again from zero (the viewer keeps its own baselines).
   */
  async snapshot(targets: readonly Target[]): Promise<TargetSnapshot[]> {
    const [pods, slices, selected] = await Promise.all([
      this.fleet.pods(),
      this.fleet.slices(),
      this.selectorValue(),
    ]);
    const byName = new Map(pods.map((p) => [p.name, p]));
    const metrics = this.config.metrics;
    return Promise.all(
      targets.map(async (target): Promise<TargetSnapshot> => {
        const pod = byName.get(target.name) ?? null;
        const endpoint = endpointOf(slices, target.name);
        const state = stateOf(pod, endpoint, pod ? takenOutBy(pod, selected) : false);
        const reading =
          pod?.host && metrics
            ? await readMetrics(metrics, pod, this.config.requestTimeoutMs).catch(() => undefined)
            : undefined;
        return {
          name: target.name,
          state,
          bound: endpoint.present && endpoint.ready,
          sessions: reading?.activeSessions ?? 0,
          sessionsOpened: reading?.sessionsTotal ?? 0,
          resets: reading?.errorsTotal ?? 0,
          ...(reading?.requestsTotal !== undefined ? { requests: reading.requestsTotal } : {}),
        };
      }),
    );
  }

  /**
   * What the pods' specs say about stopping them, read live for planning and preflight: grace period,
   * preStop, gate or label fallback, sidecar, and (from annotations) keep-alive timeout and drain budget.
   * Durations are scaled to real milliseconds.
   */
  async liveFacts(targets: readonly Target[]): Promise<LiveFleetFacts> {
    const [pods, svc, sts] = await Promise.all([
      this.fleet.pods(),
      this.fleet.service(),
      this.fleet.workload.workloadObject(),
    ]);
    const gate = this.config.gate;
    const labelFallback =
      svc.spec?.selector?.[gate] !== undefined && sts.spec?.selector?.matchLabels?.[gate] === undefined;
    const ms = (seconds: number) => Math.round(seconds * 1000 * this.config.timeScale);
    const byName = new Map(pods.map((p) => [p.name, p]));
    const facts: LiveFleetFacts["targets"] = {};
    for (const target of targets) {
      const pod = byName.get(target.name);
      if (!pod) continue;
      facts[target.name] = {
        ...(pod.host ? { host: pod.host } : {}),
        port: pod.port,
        ...(pod.keepAliveSeconds !== undefined ? { keepAliveTimeoutMs: ms(pod.keepAliveSeconds) } : {}),
        ...(pod.drainBudgetSeconds !== undefined
          ? { backgroundWorkBudgetMs: ms(pod.drainBudgetSeconds) }
          : {}),
        pod: {
          terminationGracePeriodMs: ms(pod.terminationGracePeriodSeconds),
          preStopMs: ms(pod.preStopSeconds),
          readinessGate: pod.hasGate,
          labelFallback,
          sidecar: pod.sidecar,
        },
      };
    }
    const front = this.config.frontProxyIdleTimeoutMs;
    return {
      balancer: {
        ...(front !== undefined ? { frontProxyIdleTimeoutMs: front } : {}),
        workload: this.config.workload.kind,
      },
      targets: facts,
    };
  }

  /**
   * A Deployment Ebb cannot drive safely now (Recreate, paused by someone else, its controller mid-rollout,
   * an HPA that would rescale it, another Ebb rollout of it): one error each, saying why and what to change.
   */
  async preflight(): Promise<Finding[]> {
    const problems = await this.fleet.deploymentProblems();
    return problems.map((p) => errorFinding("workload_not_drivable", `${p.why}. Fix: ${p.fix}`));
  }

  /**
   * The workload's pods that are not terminating (nor finished): a Deployment's get new names on every
   * rollout and every replacement, a StatefulSet's keep theirs but come and go with its replicas. One list.
   */
  async discoverTargets(): Promise<DiscoveredTarget[]> {
    const pods = await this.fleet.pods();
    return pods
      .filter((p) => !p.terminating && p.phase !== "Failed" && p.phase !== "Succeeded")
      .map((p) => ({
        name: p.name,
        host: p.host,
        port: p.port,
        ...(p.version !== "unknown" ? { version: p.version } : {}),
      }));
  }

  /** `ebb lint`: the live workload, its pods, HPAs and PDBs against the termination rules (@ebb/core). */
  lintWorkload(): Promise<WorkloadLint> {
    return lintFleetWorkload(this.fleet.workload);
  }

  /** The Service selector's value for the gate-named label, when it selects on it (the label fallback). */
  private async selectorValue(): Promise<string | undefined> {
    return (await this.fleet.service()).spec?.selector?.[this.config.gate];
  }

  private async takenOut(pod: PodFacts): Promise<boolean> {
    const needsSelector = !pod.hasGate && pod.servingLabel !== undefined;
    return takenOutBy(pod, needsSelector ? await this.selectorValue() : undefined);
  }
}

/** Taken out by Ebb: its gate False, or (without the gate) its label flipped away from the Service's selector. */
function takenOutBy(pod: PodFacts, selected: string | undefined): boolean {
  if (pod.hasGate) return pod.gate === "False";
  return selected !== undefined && pod.servingLabel !== undefined && pod.servingLabel !== selected;
}
