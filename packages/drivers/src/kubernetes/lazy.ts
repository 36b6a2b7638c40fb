import type {
  Balancer,
  BalancerAdmin,
  BalancerEvents,
  BalancerTiming,
  DiscoveredTarget,
  Finding,
  LiveFleetFacts,
  PodControl,
  Target,
  TargetObservation,
  TargetSnapshot,
  TrafficSample,
  WorkloadLint,
} from "@ebb/core";
import type { KubernetesBalancer } from "./balancer.js";
import { type KubernetesConfig, type KubernetesConfigInput, parseKubernetesConfig } from "./config.js";
import type { KubernetesFleet } from "./fleet.js";

/**
 * A Kubernetes fleet's balancer that loads @kubernetes/client-node on first use. Importing the client costs a
 * worker about 85 MB of RSS, which a worker with no Kubernetes fleet must not pay: `@ebb/drivers` exports only
 * this wrapper and the config (zod), and the driver itself comes from `@ebb/drivers/kubernetes` through a
 * dynamic import. The config is validated at once, so a bad fleet config still fails where it is stored.
 */
export class LazyKubernetesBalancer implements Balancer {
  readonly kind = "kubernetes" as const;
  readonly config: KubernetesConfig;
  private loading: Promise<KubernetesBalancer> | undefined;

  constructor(config: KubernetesConfig | KubernetesConfigInput) {
    this.config = parseKubernetesConfig(config);
  }

  /** The driver, loading the client on the first call (one balancer, one KubeConfig, per fleet config). */
  load(): Promise<KubernetesBalancer> {
    if (this.loading === undefined) {
      const loading = import("./balancer.js").then((m) => new m.KubernetesBalancer(this.config));
      // A failed load (a kubeconfig that cannot be read yet) is tried again on the next call.
      loading.catch(() => {
        if (this.loading === loading) this.loading = undefined;
      });
      this.loading = loading;
    }
    return this.loading;
  }

  /** The KubernetesFleet the k8s.* steps drive. */
  async fleet(): Promise<KubernetesFleet> {
    return (await this.load()).fleet;
  }

  async timing(): Promise<BalancerTiming> {
    return (await this.load()).timing();
  }

  async observe(target: Target): Promise<TargetObservation> {
    return (await this.load()).observe(target);
  }

  readonly admin: BalancerAdmin = {
    disable: async (target) => (await this.load()).admin.disable(target),
    enable: async (target) => (await this.load()).admin.enable(target),
  };

  /** The pod operations of the k8s.* steps (the client loads on the first call). */
  readonly pods = (): Promise<PodControl> => this.fleet();

  get vipUrl(): string | undefined {
    return this.config.vipUrl;
  }

  /**
   * The pods and EndpointSlices, watched (informers), so that waiting k8s.* steps re-check when the cluster
   * changes. Starting needs the client loaded: until then, and if the watch cannot start, the steps' own
   * polling carries on.
   */
  readonly events: BalancerEvents = {
    watch: (onChange) => {
      let stopped = false;
      let stop: (() => Promise<void>) | undefined;
      void this.fleet()
        .then((fleet) => fleet.watchChanges(onChange, () => {}))
        .then((s) => {
          stop = s;
          if (stopped) void s();
        })
        .catch(() => {});
      return () => {
        stopped = true;
        void stop?.();
      };
    },
  };

  async traffic(target: Target): Promise<TrafficSample> {
    return (await this.load()).traffic(target);
  }

  async snapshot(targets: readonly Target[]): Promise<TargetSnapshot[]> {
    return (await this.load()).snapshot(targets);
  }

  async liveFacts(targets: readonly Target[]): Promise<LiveFleetFacts> {
    return (await this.load()).liveFacts(targets);
  }

  /** A Deployment it cannot drive safely, as preflight errors (loads the client like every other call). */
  async preflight(): Promise<Finding[]> {
    return (await this.load()).preflight();
  }

  /** The workload's pods now (loads the client like every other call). */
  async discoverTargets(): Promise<DiscoveredTarget[]> {
    return (await this.load()).discoverTargets();
  }

  /** `ebb lint` over the fleet's live workload (loads the client like every other call). */
  async lintWorkload(): Promise<WorkloadLint> {
    return (await this.load()).lintWorkload();
  }
}
