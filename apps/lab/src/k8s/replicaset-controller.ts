import type { Registry } from "./registry.js";
import { randomSuffix } from "./registry.js";
import { PODS, REPLICASETS } from "./resources.js";
import type { StoreEvent } from "./store.js";
import { conditionOf, deepClone, isPodReady, type KObject, type Pod, type ReplicaSet } from "./types.js";

/** The annotation a pod's owner lowers to have it deleted first on scale-down (Kubernetes 1.22+, beta). */
export const DELETION_COST_ANNOTATION = "controller.kubernetes.io/pod-deletion-cost";

export function ownedBy(owner: KObject): (o: KObject) => boolean {
  return (o) => (o.metadata.ownerReferences ?? []).some((r) => r.uid === owner.metadata.uid && r.controller);
}

/** Pods a ReplicaSet counts: neither terminating nor finished (the real controller's FilterActivePods). */
export function isActivePod(p: Pod): boolean {
  return !p.metadata.deletionTimestamp && p.status?.phase !== "Succeeded" && p.status?.phase !== "Failed";
}

function phaseRank(p: Pod): number {
  const phase = p.status?.phase ?? "Pending";
  return phase === "Pending" ? 0 : phase === "Unknown" ? 1 : 2;
}

function deletionCost(p: Pod): number {
  const raw = p.metadata.annotations?.[DELETION_COST_ANNOTATION];
  const n = raw === undefined ? 0 : Number(raw);
  return Number.isInteger(n) ? n : 0;
}

function readySince(p: Pod): number {
  const t = conditionOf(p, "Ready")?.lastTransitionTime;
  return t ? Date.parse(t) : 0;
}

function restarts(p: Pod): number {
  return (p.status?.containerStatuses ?? []).reduce((n, s) => n + Number(s.restartCount ?? 0), 0);
}

/**
 * Which pods a scale-down deletes first, in the real controller's order (`ActivePodsWithRanks`): unscheduled
 * before scheduled, Pending before Unknown before Running, not ready before ready, lower
 * `pod-deletion-cost` first, then the more recently ready, the more restarted, the newer.
 */
export function deletionOrder(a: Pod, b: Pod): number {
  const assigned = (p: Pod) => (p.spec.nodeName ? 1 : 0);
  return (
    assigned(a) - assigned(b) ||
    phaseRank(a) - phaseRank(b) ||
    Number(isPodReady(a)) - Number(isPodReady(b)) ||
    deletionCost(a) - deletionCost(b) ||
    readySince(b) - readySince(a) ||
    restarts(b) - restarts(a) ||
    Date.parse(b.metadata.creationTimestamp ?? "") - Date.parse(a.metadata.creationTimestamp ?? "")
  );
}

/** Coalesces syncs of one kind of object to one per object per microtask turn, as a controller's work queue. */
export class WorkQueue {
  private readonly dirty = new Set<string>();
  private scheduled = false;

  constructor(
    private readonly sync: (namespace: string, name: string) => void,
    private readonly log: (line: string) => void,
    private readonly what: string,
  ) {}

  add(namespace: string, name: string): void {
    this.dirty.add(`${namespace}/${name}`);
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      const keys = [...this.dirty];
      this.dirty.clear();
      for (const key of keys) {
        const [ns, name] = key.split("/") as [string, string];
        try {
          this.sync(ns, name);
        } catch (err) {
          this.log(`${this.what} ${key}: sync failed: ${(err as Error).message}`);
        }
      }
    });
  }
}

/**
 * The ReplicaSet controller: keeps `spec.replicas` active pods from the template (`<rs>-<suffix>`), deletes
 * the surplus in the real controller's order (so `pod-deletion-cost` picks the victims), and reports
 * replicas / ready / available in its status once it has acted (observedGeneration tells the Deployment
 * controller its write was seen).
 */
export class ReplicaSetController {
  private unsubscribe: (() => void) | undefined;
  private readonly queue: WorkQueue;

  constructor(
    private readonly registry: Registry,
    private readonly log: (line: string) => void = () => {},
  ) {
    this.queue = new WorkQueue((ns, name) => this.sync(ns, name), log, "replicaset");
  }

  start(): void {
    const store = this.registry.store;
    this.unsubscribe = store.subscribe((e) => this.onEvent(e));
    for (const rs of store.list(REPLICASETS))
      this.queue.add(rs.metadata.namespace ?? "", rs.metadata.name ?? "");
  }

  stop(): void {
    this.unsubscribe?.();
  }

  private onEvent(e: StoreEvent): void {
    const ns = e.object.metadata.namespace ?? "";
    if (e.resource === REPLICASETS) {
      if (e.type !== "DELETED") this.queue.add(ns, e.object.metadata.name ?? "");
    } else if (e.resource === PODS) {
      for (const ref of e.object.metadata.ownerReferences ?? []) {
        if (ref.kind === "ReplicaSet" && ref.controller) this.queue.add(ns, ref.name);
      }
    }
  }

  private sync(namespace: string, name: string): void {
    const store = this.registry.store;
    const rs = store.peek(REPLICASETS, namespace, name) as ReplicaSet | undefined;
    if (!rs || rs.metadata.deletionTimestamp) return;
    const active = (store.list(PODS, namespace, ownedBy(rs)) as Pod[]).filter(isActivePod);
    const want = rs.spec.replicas ?? 1;
    if (active.length < want) {
      for (let i = active.length; i < want; i++) this.createPod(rs);
    } else if (active.length > want) {
      const victims = [...active].sort(deletionOrder).slice(0, active.length - want);
      for (const p of victims) {
        this.registry.delete(PODS, namespace, p.metadata.name ?? "");
        this.log(`replicaset ${namespace}/${name}: deleted pod ${p.metadata.name} (scale-down to ${want})`);
      }
    }
    this.writeStatus(rs);
  }

  private createPod(rs: ReplicaSet): void {
    const template = deepClone(rs.spec.template);
    this.registry.create(PODS, rs.metadata.namespace, {
      metadata: {
        ...template.metadata,
        generateName: `${rs.metadata.name}-`,
        name: `${rs.metadata.name}-${randomSuffix()}`,
        namespace: rs.metadata.namespace,
        labels: { ...template.metadata?.labels },
        annotations: { ...template.metadata?.annotations },
        ownerReferences: [
          {
            apiVersion: "apps/v1",
            kind: "ReplicaSet",
            name: rs.metadata.name ?? "",
            uid: rs.metadata.uid ?? "",
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      spec: template.spec,
    });
  }

  private writeStatus(rs: ReplicaSet): void {
    const store = this.registry.store;
    const active = (store.list(PODS, rs.metadata.namespace, ownedBy(rs)) as Pod[]).filter(isActivePod);
    const ready = active.filter(isPodReady).length;
    const status = {
      replicas: active.length,
      fullyLabeledReplicas: active.length,
      readyReplicas: ready,
      availableReplicas: ready,
      observedGeneration: rs.metadata.generation ?? 1,
    };
    if (JSON.stringify(rs.status) === JSON.stringify(status)) return;
    store.mutate(REPLICASETS, rs.metadata.namespace, rs.metadata.name ?? "", (o) => {
      o.status = status;
    });
  }
}
