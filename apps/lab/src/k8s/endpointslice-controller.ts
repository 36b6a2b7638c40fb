import { type Registry, randomSuffix } from "./registry.js";
import { ENDPOINTSLICES, PODS, SERVICES } from "./resources.js";
import { mapSelectorMatcher } from "./selectors.js";
import type { StoreEvent } from "./store.js";
import {
  type Endpoint,
  type EndpointSlice,
  isPodReady,
  nowIso,
  type Pod,
  type Service,
  type ServicePort,
} from "./types.js";

export const SERVICE_NAME_LABEL = "kubernetes.io/service-name";
export const MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by";
export const MANAGED_BY = "endpointslice-controller.k8s.io";

function targetPortOf(port: ServicePort, pods: readonly Pod[]): number {
  const tp = port.targetPort ?? port.port;
  if (typeof tp === "number") return tp;
  for (const pod of pods) {
    for (const c of pod.spec.containers) {
      const named = c.ports?.find((p) => p.name === tp)?.containerPort;
      if (named !== undefined) return named;
    }
  }
  const n = Number(tp);
  return Number.isInteger(n) ? n : port.port;
}

/**
 * The EndpointSlice controller: one slice per Service with a selector, listing every selected pod that has an
 * address. `ready` = the pod is Ready and not terminating; `serving` = the pod is Ready (terminating or not);
 * `terminating` = it has a deletionTimestamp. Kubelet readiness, gates and deletion all show up here within
 * one reconcile (the same turn of the event loop), as close to real time as the real controller gets.
 */
export class EndpointSliceController {
  private unsubscribe: (() => void) | undefined;
  private readonly dirty = new Set<string>();
  private scheduled = false;

  constructor(private readonly registry: Registry) {}

  start(): void {
    const store = this.registry.store;
    this.unsubscribe = store.subscribe((e) => this.onEvent(e));
    for (const svc of store.list(SERVICES)) this.mark(svc.metadata.namespace ?? "", svc.metadata.name ?? "");
  }

  stop(): void {
    this.unsubscribe?.();
  }

  private onEvent(e: StoreEvent): void {
    const ns = e.object.metadata.namespace ?? "";
    if (e.resource === SERVICES) this.mark(ns, e.object.metadata.name ?? "");
    else if (e.resource === PODS) {
      for (const svc of this.registry.store.list(SERVICES, ns)) {
        const sel = mapSelectorMatcher((svc as Service).spec.selector);
        if (sel(e.object) || (e.prev !== undefined && sel(e.prev))) this.mark(ns, svc.metadata.name ?? "");
      }
    } else if (e.resource === ENDPOINTSLICES && e.type === "DELETED") {
      // Someone deleted a managed slice: the controller puts it back.
      const svc = e.object.metadata.labels?.[SERVICE_NAME_LABEL];
      if (svc && e.object.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY) this.mark(ns, svc);
    }
  }

  private mark(namespace: string, service: string): void {
    this.dirty.add(`${namespace}/${service}`);
    if (this.scheduled) return;
    this.scheduled = true;
    // Coalesces the burst of writes one change causes (a delete: pod MODIFIED, status, ...) into one sync.
    queueMicrotask(() => {
      this.scheduled = false;
      const keys = [...this.dirty];
      this.dirty.clear();
      for (const key of keys) {
        const [ns, name] = key.split("/") as [string, string];
        this.sync(ns, name);
      }
    });
  }

  private sync(namespace: string, name: string): void {
    const store = this.registry.store;
    const svc = store.peek(SERVICES, namespace, name) as Service | undefined;
    const slices = store.list(
      ENDPOINTSLICES,
      namespace,
      (o) =>
        o.metadata.labels?.[SERVICE_NAME_LABEL] === name &&
        o.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY,
    ) as EndpointSlice[];
    if (!svc?.spec.selector || Object.keys(svc.spec.selector).length === 0) {
      for (const s of slices) this.registry.delete(ENDPOINTSLICES, namespace, s.metadata.name ?? "");
      return;
    }
    const selected = store
      .list(PODS, namespace, mapSelectorMatcher(svc.spec.selector))
      .map((p) => p as Pod)
      .filter((p) => p.status?.podIP && p.status.phase !== "Succeeded" && p.status.phase !== "Failed");
    const endpoints: Endpoint[] = selected.map((pod) => {
      const terminating = pod.metadata.deletionTimestamp !== undefined;
      const ready = isPodReady(pod);
      return {
        addresses: [pod.status?.podIP ?? ""],
        conditions: { ready: ready && !terminating, serving: ready, terminating },
        targetRef: {
          kind: "Pod",
          namespace,
          name: pod.metadata.name ?? "",
          uid: pod.metadata.uid ?? "",
        },
        nodeName: pod.spec.nodeName ?? "",
      };
    });
    const ports = (svc.spec.ports ?? []).map((p) => ({
      ...(p.name ? { name: p.name } : { name: "" }),
      protocol: p.protocol ?? "TCP",
      port: targetPortOf(p, selected),
    }));
    const [first, ...extra] = slices;
    for (const s of extra) this.registry.delete(ENDPOINTSLICES, namespace, s.metadata.name ?? "");
    const owner = {
      apiVersion: "v1",
      kind: "Service",
      name,
      uid: svc.metadata.uid ?? "",
      controller: true,
      blockOwnerDeletion: true,
    };
    if (!first) {
      this.registry.create(ENDPOINTSLICES, namespace, {
        metadata: {
          name: `${name}-${randomSuffix()}`,
          namespace,
          labels: { [SERVICE_NAME_LABEL]: name, [MANAGED_BY_LABEL]: MANAGED_BY },
          annotations: { "endpoints.kubernetes.io/last-change-trigger-time": nowIso() },
          ownerReferences: [owner],
        },
        addressType: "IPv4",
        endpoints,
        ports,
      });
      return;
    }
    if (
      JSON.stringify(first.endpoints) === JSON.stringify(endpoints) &&
      JSON.stringify(first.ports) === JSON.stringify(ports)
    )
      return;
    store.mutate(ENDPOINTSLICES, namespace, first.metadata.name ?? "", (o) => {
      const slice = o as EndpointSlice;
      slice.endpoints = endpoints;
      slice.ports = ports;
      slice.metadata.annotations = {
        ...slice.metadata.annotations,
        "endpoints.kubernetes.io/last-change-trigger-time": nowIso(),
      };
    });
  }
}
