import type { V1EndpointSlice, V1Service, V1StatefulSet } from "@kubernetes/client-node";
import {
  EBB_GATE,
  type KubernetesConfig,
  type KubernetesConfigInput,
  parseKubernetesConfig,
} from "./config.js";
import {
  abortDeployment,
  checkDeployment,
  checkNewPodReady,
  type DeploymentProblem,
  prepareDeployment,
  replacementPod,
  retirePod,
  surgeDeployment,
} from "./deployment.js";
import { type KubeClients, loadKubeConfig, makeClients } from "./kube.js";
import type { EndpointView, PodFacts } from "./pods.js";
import { podFacts } from "./pods.js";
import { type ReadinessResult, setReadiness } from "./readiness.js";
import {
  checkPodGone,
  checkReplacementReady,
  type DeletePodOptions,
  type DeleteResult,
  deletePod,
  type ReplacementCheck,
  restore,
} from "./replacement.js";
import { setTemplateVersion } from "./template.js";
import {
  checkEndpointRemoved,
  type EndpointRemoval,
  type WaitOptions,
  watchChanges,
  watchEndpoints,
} from "./waits.js";
import { FleetWorkload } from "./workload.js";

export type {
  DeletePodOptions,
  DeleteResult,
  EndpointRemoval,
  ReadinessResult,
  ReplacementCheck,
  WaitOptions,
};

/**
 * The Kubernetes side of a fleet: a workload (a StatefulSet with OnDelete, or a Deployment driven through its
 * ReplicaSets: deployment.ts) and the Service in front of it, in a namespace.
 * One method per k8s.* step, each a check that returns at once (a waiting step re-checks it on the next
 * change); every change is read back before it counts. All state it decides on lives in the cluster
 * (conditions, annotations, uids), so a worker that resumes a step after a crash decides the same way.
 * The work is done in one module per concern: reading the cluster objects (workload.ts), the readiness gate
 * or label (readiness.ts), endpoint checks, watches and the one blocking wait (waits.ts), deleting a pod and
 * its replacement (replacement.ts), the template's version (template.ts).
 */
export class KubernetesFleet {
  readonly config: KubernetesConfig;
  /** The cluster objects this fleet reads (for the driver's own modules and the tests' blocking waits). */
  readonly workload: FleetWorkload;

  constructor(
    config: KubernetesConfig | KubernetesConfigInput,
    opts: { clients?: KubeClients; now?: () => number } = {},
  ) {
    this.config = parseKubernetesConfig(config);
    this.workload = new FleetWorkload(
      this.config,
      opts.clients ?? makeClients(loadKubeConfig(this.config)),
      opts.now ?? Date.now,
    );
  }

  /** The StatefulSet of a StatefulSet fleet. */
  statefulSet(): Promise<V1StatefulSet> {
    return this.workload.statefulSet();
  }

  service(): Promise<V1Service> {
    return this.workload.service();
  }

  /** The workload's pods with their facts (grace period, preStop, gate, sidecar), sorted by name. */
  pods(): Promise<PodFacts[]> {
    return this.workload.pods();
  }

  /**
   * The pod of that name; in a Deployment fleet, once it is gone, the new pod that stands for it (a target
   * keeps its name across the rollout, its pod does not).
   */
  async pod(name: string): Promise<PodFacts | null> {
    const own = await this.workload.pod(name);
    if (own || !this.isDeployment) return own;
    const stand = await replacementPod(this.workload, name);
    return stand ? podFacts(stand, this.config.gate) : null;
  }

  private get isDeployment(): boolean {
    return this.config.workload.kind === "Deployment";
  }

  /** Why the fleet's Deployment cannot be driven safely now, with what to change (preflight). */
  deploymentProblems(): Promise<DeploymentProblem[]> {
    return checkDeployment(this.workload);
  }

  slices(): Promise<V1EndpointSlice[]> {
    return this.workload.slices();
  }

  /** The pod's endpoint as the Service's EndpointSlices list it now. */
  endpoint(name: string): Promise<EndpointView> {
    return this.workload.endpoint(name);
  }

  /** k8s.setReadiness: the pod out of its Service (ready=false) or back, by its gate or label; read back. */
  setReadiness(name: string, ready: boolean): Promise<ReadinessResult> {
    return setReadiness(this.workload, name, ready);
  }

  /** k8s.awaitEndpointRemoved, one check: out of the EndpointSlices, and the propagation window passed? */
  checkEndpointRemoved(name: string, opts: { observedAt?: number } = {}): Promise<EndpointRemoval> {
    return checkEndpointRemoved(this.workload, name, opts);
  }

  /** Watches the Service's EndpointSlices; `onChange` gets the slices after every change. */
  watchEndpoints(
    onChange: (slices: V1EndpointSlice[]) => void,
    onError?: (err: unknown) => void,
  ): Promise<() => Promise<void>> {
    return watchEndpoints(this.workload, onChange, onError);
  }

  /** A pod's name when that pod changes, "*" when the EndpointSlices do: what a waiting k8s.* step waits for. */
  watchChanges(
    onChange: (pod: string) => void,
    onError?: (err: unknown) => void,
  ): Promise<() => Promise<void>> {
    return watchChanges(this.workload, onChange, onError);
  }

  /** Whether the incarnation `uid` of the pod is gone (a replacement of the same name does not count). */
  checkPodGone(name: string, uid: string): Promise<boolean> {
    return checkPodGone(this.workload, name, uid);
  }

  /** k8s.deletePod: issues the delete of a drained pod with its grace period; never waits for it to go. */
  deletePod(name: string, opts: DeletePodOptions = {}): Promise<DeleteResult> {
    if (this.isDeployment) return retirePod(this.workload, name, opts);
    return deletePod(this.workload, name, opts);
  }

  /** k8s.awaitReplacementReady, one check: the pod of that name at `version`, Ready and in the slices. */
  checkReplacementReady(name: string, version: string): Promise<ReplacementCheck> {
    if (this.isDeployment) return checkNewPodReady(this.workload, name, version);
    return checkReplacementReady(this.workload, name, version);
  }

  /** An aborted drain: the pod (or its replacement) back in its Services; blocking, bounded by `timeoutMs`. */
  restore(name: string, opts: WaitOptions): Promise<PodFacts | null> {
    if (this.isDeployment) return abortDeployment(this.workload, name, opts);
    return restore(this.workload, name, opts);
  }

  /** Deploy: the workload's pod template at the new version (OnDelete: nothing restarts). */
  setTemplateVersion(version: string): Promise<{ revision: string; changed: boolean }> {
    if (this.isDeployment) return prepareDeployment(this.workload, version);
    return setTemplateVersion(this.workload, version);
  }

  /**
   * strategy.maxSurge: a Deployment's new pods start before their targets are retired (deployment.ts). A
   * StatefulSet cannot (a pod's replacement has its name, so it waits for it to go): preflight refuses the
   * field there, and a forced rollout runs without surge.
   */
  async startReplacements(
    version: string,
    maxSurge: number,
  ): Promise<{ surged: boolean; replicas?: number }> {
    if (!this.isDeployment || maxSurge <= 0) return { surged: false };
    return surgeDeployment(this.workload, version, maxSurge);
  }

  /** The gate name in use (for callers that label their records). */
  get gate(): string {
    return this.config.gate ?? EBB_GATE;
  }
}
