import {
  type Balancer,
  type BalancerFacts,
  type BalancerTargetState,
  type BalancerTiming,
  EbbError,
  type Target,
  type TargetFacts,
  type TargetObservation,
  type TrafficSample,
} from "@ebb/core";
import type { KubernetesConfig, KubernetesConfigInput } from "./config.js";
import { KubernetesFleet } from "./fleet.js";
import type { KubeClients } from "./kube.js";
import { PodTrafficMeter, readMetrics } from "./metrics.js";
import { type EndpointView, endpointOf, type PodFacts } from "./pods.js";

export interface KubernetesFleetFacts {
  balancer: BalancerFacts;
  targets: TargetFacts[];
  states: Record<string, BalancerTargetState>;
  pods: PodFacts[];
}

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
    const sts = await this.fleet.statefulSet();
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

  async disable(target: Target): Promise<void> {
    await this.fleet.setReadiness(target.name, false);
  }

  async enable(target: Target): Promise<void> {
    await this.fleet.setReadiness(target.name, true);
  }

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

  /** BalancerFacts and, per target, whether its endpoint is ready, from one pod list and one slice list. */
  async facts(targets: readonly Target[]): Promise<KubernetesFleetFacts> {
    const [timing, pods, slices] = await Promise.all([this.timing(), this.fleet.pods(), this.fleet.slices()]);
    const byName = new Map(pods.map((p) => [p.name, p]));
    const states: Record<string, BalancerTargetState> = {};
    const facts = await Promise.all(
      targets.map(async (target): Promise<TargetFacts> => {
        const pod = byName.get(target.name) ?? null;
        const endpoint = endpointOf(slices, target.name);
        states[target.name] = stateOf(pod, endpoint, pod ? await this.takenOut(pod) : false);
        return {
          name: target.name,
          host: pod?.host || target.host,
          port: pod?.port ?? target.port,
          inService: endpoint.present && endpoint.ready,
          labels: { ...target.labels },
          // preStop and the grace period bound how long a pod's stop may take.
          ...(pod
            ? {
                estimates: {
                  stopMs: Math.round(pod.terminationGracePeriodSeconds * 1000 * this.config.timeScale),
                },
                backgroundWorkBudgetMs: Math.round(
                  Math.max(0, pod.terminationGracePeriodSeconds - pod.preStopSeconds) *
                    1000 *
                    this.config.timeScale,
                ),
              }
            : {}),
        };
      }),
    );
    return { balancer: { kind: "kubernetes", timing }, targets: facts, states, pods };
  }

  private async takenOut(pod: PodFacts): Promise<boolean> {
    if (pod.hasGate) return pod.gate === "False";
    if (pod.servingLabel === undefined) return false;
    const selected = (await this.fleet.service()).spec?.selector?.[this.config.gate];
    return selected !== undefined && pod.servingLabel !== selected;
  }
}
