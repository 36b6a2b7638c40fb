import { EbbError } from "@ebb/core";
import type {
  V1Deployment,
  V1EndpointSlice,
  V1LabelSelector,
  V1Pod,
  V1Service,
  V1StatefulSet,
} from "@kubernetes/client-node";
import type { KubernetesConfig } from "./config.js";
import { SERVICE_NAME_LABEL } from "./endpoint-watch.js";
import { call, type KubeClients } from "./kube.js";
import { type EndpointView, endpointOf, type PodFacts, podFacts } from "./pods.js";

/** A label selector as the `labelSelector` query parameter of a list or watch. */
export function selectorString(sel: V1LabelSelector | undefined): string {
  const parts = Object.entries(sel?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of sel?.matchExpressions ?? []) {
    const values = (e.values ?? []).join(",");
    if (e.operator === "In") parts.push(`${e.key} in (${values})`);
    else if (e.operator === "NotIn") parts.push(`${e.key} notin (${values})`);
    else if (e.operator === "Exists") parts.push(e.key);
    else if (e.operator === "DoesNotExist") parts.push(`!${e.key}`);
  }
  return parts.join(",");
}

/**
 * The cluster objects of one fleet, as read now: its workload (StatefulSet), the Service in front of it, their
 * pods and the Service's EndpointSlices. Every request of the fleet's operations goes through `api`, so each
 * one has the configured timeout and the project's error codes.
 */
export class FleetWorkload {
  constructor(
    readonly config: KubernetesConfig,
    readonly clients: KubeClients,
    readonly now: () => number,
  ) {}

  get ns(): string {
    return this.config.namespace;
  }

  api<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return call(what, this.config.requestTimeoutMs, fn);
  }

  /** The StatefulSet of a StatefulSet fleet (a Deployment fleet has none: see deployment()). */
  async statefulSet(): Promise<V1StatefulSet> {
    const { kind, name } = this.config.workload;
    if (kind !== "StatefulSet") {
      throw new EbbError("param_invalid", `balancerConfig.workload.kind: ${kind} has no StatefulSet`, {
        details: [{ field: "balancerConfig.workload.kind", message: "unsupported" }],
      });
    }
    return this.api(`read statefulset ${this.ns}/${name}`, () =>
      this.clients.apps.readNamespacedStatefulSet({ name, namespace: this.ns }),
    );
  }

  /** The Deployment of a Deployment fleet (driven through its ReplicaSets: deployment.ts). */
  async deployment(): Promise<V1Deployment> {
    const { kind, name } = this.config.workload;
    if (kind !== "Deployment") {
      throw new EbbError("internal", `balancerConfig.workload.kind is ${kind}, not Deployment`);
    }
    return this.api(`read deployment ${this.ns}/${name}`, () =>
      this.clients.apps.readNamespacedDeployment({ name, namespace: this.ns }),
    );
  }

  /** Whichever workload the fleet names: its selector and pod template are all most callers read. */
  async workloadObject(): Promise<V1StatefulSet | V1Deployment> {
    return this.config.workload.kind === "Deployment" ? this.deployment() : this.statefulSet();
  }

  /** The workload's pod selector, as a `labelSelector` string. */
  async podSelector(): Promise<string> {
    return selectorString((await this.workloadObject()).spec?.selector);
  }

  async service(): Promise<V1Service> {
    return this.api(`read service ${this.ns}/${this.config.service}`, () =>
      this.clients.core.readNamespacedService({ name: this.config.service, namespace: this.ns }),
    );
  }

  /** The pod of that name, or null when there is none. */
  async readPod(name: string): Promise<V1Pod | null> {
    try {
      return await this.api(`read pod ${this.ns}/${name}`, () =>
        this.clients.core.readNamespacedPod({ name, namespace: this.ns }),
      );
    } catch (err) {
      if (err instanceof EbbError && err.code === "not_found") return null;
      throw err;
    }
  }

  async mustReadPod(name: string): Promise<V1Pod> {
    const pod = await this.readPod(name);
    if (!pod) {
      throw new EbbError(
        "not_found",
        `pod ${this.ns}/${name} does not exist (fleet ${this.config.workload.name})`,
        {
          details: { target: name },
        },
      );
    }
    return pod;
  }

  /** The workload's pods with their facts (grace period, preStop, gate, sidecar), sorted by name. */
  async pods(): Promise<PodFacts[]> {
    const labelSelector = await this.podSelector();
    const list = await this.api(`list pods ${this.ns} (${labelSelector})`, () =>
      this.clients.core.listNamespacedPod({ namespace: this.ns, labelSelector }),
    );
    return list.items.map((p) => podFacts(p, this.config.gate)).sort((a, b) => a.name.localeCompare(b.name));
  }

  async pod(name: string): Promise<PodFacts | null> {
    const p = await this.readPod(name);
    return p ? podFacts(p, this.config.gate) : null;
  }

  async slices(): Promise<V1EndpointSlice[]> {
    const list = await this.api(`list endpointslices of service ${this.ns}/${this.config.service}`, () =>
      this.clients.discovery.listNamespacedEndpointSlice({
        namespace: this.ns,
        labelSelector: `${SERVICE_NAME_LABEL}=${this.config.service}`,
      }),
    );
    return list.items;
  }

  /** The pod's endpoint as the Service's EndpointSlices list it now. */
  async endpoint(name: string): Promise<EndpointView> {
    return endpointOf(await this.slices(), name);
  }

  /** Taken out by Ebb: its gate False, or (without the gate) its selector label flipped away from the Service's. */
  async isOutOfService(facts: PodFacts): Promise<boolean> {
    if (facts.hasGate) return facts.gate === "False";
    const selected = (await this.service()).spec?.selector?.[this.config.gate];
    return selected !== undefined && facts.servingLabel !== selected;
  }
}
