import { createHash } from "node:crypto";
import { ApiError } from "./errors.js";
import type { Registry } from "./registry.js";
import { WorkQueue } from "./replicaset-controller.js";
import { PODS, STATEFULSETS } from "./resources.js";
import type { StoreEvent } from "./store.js";
import { deepClone, isPodReady, type KObject, type Pod, type StatefulSet } from "./types.js";

export const REVISION_LABEL = "controller-revision-hash";
export const POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name";
export const POD_INDEX_LABEL = "apps.kubernetes.io/pod-index";

/** `<name>-<hash of the pod template>`: pods carry it in controller-revision-hash. */
export function revisionOf(sts: StatefulSet): string {
  const hash = createHash("sha256").update(JSON.stringify(sts.spec.template)).digest("hex").slice(0, 10);
  return `${sts.metadata.name}-${hash}`;
}

function ordinalOf(sts: StatefulSet, pod: KObject): number | undefined {
  const prefix = `${sts.metadata.name}-`;
  const name = pod.metadata.name ?? "";
  if (!name.startsWith(prefix)) return undefined;
  const rest = name.slice(prefix.length);
  return /^\d+$/.test(rest) ? Number(rest) : undefined;
}

function ownedBy(sts: KObject): (o: KObject) => boolean {
  return (o) => (o.metadata.ownerReferences ?? []).some((r) => r.uid === sts.metadata.uid && r.controller);
}

/**
 * The StatefulSet controller: pods `<name>-<ordinal>` from the template, a deleted one recreated with the
 * same name once the old object is gone. Both update strategies: OnDelete (the template changes nothing by
 * itself; a pod deleted by someone comes back at the new revision, which is what Ebb's k8s-pod-drain
 * uses) and RollingUpdate (the controller replaces pods itself, highest ordinal first, one at a time).
 */
export class StatefulSetController {
  private unsubscribe: (() => void) | undefined;
  private readonly queue: WorkQueue;

  constructor(
    private readonly registry: Registry,
    private readonly log: (line: string) => void = () => {},
  ) {
    this.queue = new WorkQueue((ns, name) => this.sync(ns, name), log, "statefulset");
  }

  start(): void {
    const store = this.registry.store;
    this.unsubscribe = store.subscribe((e) => this.onEvent(e));
    for (const s of store.list(STATEFULSETS)) this.mark(s.metadata.namespace ?? "", s.metadata.name ?? "");
  }

  stop(): void {
    this.unsubscribe?.();
  }

  private onEvent(e: StoreEvent): void {
    const ns = e.object.metadata.namespace ?? "";
    if (e.resource === STATEFULSETS) {
      if (e.type !== "DELETED") this.mark(ns, e.object.metadata.name ?? "");
    } else if (e.resource === PODS) {
      for (const ref of e.object.metadata.ownerReferences ?? []) {
        if (ref.kind === "StatefulSet" && ref.controller) this.mark(ns, ref.name);
      }
    }
  }

  private mark(namespace: string, name: string): void {
    this.queue.add(namespace, name);
  }

  private sync(namespace: string, name: string): void {
    const store = this.registry.store;
    const sts = store.peek(STATEFULSETS, namespace, name) as StatefulSet | undefined;
    if (!sts || sts.metadata.deletionTimestamp) return;
    const updateRevision = revisionOf(sts);
    const replicas = sts.spec.replicas ?? 1;
    const parallel = sts.spec.podManagementPolicy === "Parallel";
    const pods = store.list(PODS, namespace, ownedBy(sts)) as Pod[];
    const byOrdinal = new Map<number, Pod>();
    for (const p of pods) {
      const i = ordinalOf(sts, p);
      if (i !== undefined) byOrdinal.set(i, p);
    }
    const healthy = (p: Pod | undefined) => p !== undefined && !p.metadata.deletionTimestamp && isPodReady(p);

    for (let i = 0; i < replicas; i++) {
      const pod = byOrdinal.get(i);
      if (!pod) {
        this.createPod(sts, i, updateRevision);
        if (!parallel) break;
        continue;
      }
      // OrderedReady: ordinal i+1 waits until ordinal i is Running and Ready.
      if (!parallel && !healthy(pod)) break;
    }

    const condemned = pods
      .filter((p) => (ordinalOf(sts, p) ?? -1) >= replicas)
      .sort((a, b) => (ordinalOf(sts, b) ?? 0) - (ordinalOf(sts, a) ?? 0));
    if (condemned.length > 0 && (parallel || !condemned.some((p) => p.metadata.deletionTimestamp))) {
      for (const p of parallel ? condemned : condemned.slice(0, 1)) {
        if (!p.metadata.deletionTimestamp) this.registry.delete(PODS, namespace, p.metadata.name ?? "");
      }
    }

    if ((sts.spec.updateStrategy?.type ?? "RollingUpdate") === "RollingUpdate") {
      const partition = sts.spec.updateStrategy?.rollingUpdate?.partition ?? 0;
      const inRange = [...Array(replicas).keys()].map((i) => byOrdinal.get(i));
      if (inRange.every(healthy)) {
        for (let i = replicas - 1; i >= partition; i--) {
          const pod = inRange[i]!;
          if (pod.metadata.labels?.[REVISION_LABEL] !== updateRevision) {
            this.registry.delete(PODS, namespace, pod.metadata.name ?? "");
            break;
          }
        }
      }
    }

    this.writeStatus(sts, pods, updateRevision);
  }

  private createPod(sts: StatefulSet, ordinal: number, revision: string): void {
    const name = `${sts.metadata.name}-${ordinal}`;
    const template = deepClone(sts.spec.template);
    const pod = {
      metadata: {
        ...template.metadata,
        name,
        generateName: `${sts.metadata.name}-`,
        namespace: sts.metadata.namespace,
        labels: {
          ...template.metadata?.labels,
          [REVISION_LABEL]: revision,
          [POD_NAME_LABEL]: name,
          [POD_INDEX_LABEL]: String(ordinal),
        },
        annotations: { ...template.metadata?.annotations },
        ownerReferences: [
          {
            apiVersion: "apps/v1",
            kind: "StatefulSet",
            name: sts.metadata.name ?? "",
            uid: sts.metadata.uid ?? "",
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      spec: {
        ...template.spec,
        hostname: name,
        ...(sts.spec.serviceName ? { subdomain: sts.spec.serviceName } : {}),
      },
    };
    try {
      this.registry.create(PODS, sts.metadata.namespace, pod);
      this.log(
        `statefulset ${sts.metadata.namespace}/${sts.metadata.name}: created pod ${name} at ${revision}`,
      );
    } catch (err) {
      // A pod of that name that we do not own (an orphan) blocks the ordinal, as on a real cluster.
      if (!(err instanceof ApiError && err.code === 409)) throw err;
    }
  }

  private writeStatus(sts: StatefulSet, pods: Pod[], updateRevision: string): void {
    const live = pods.filter((p) => !p.metadata.deletionTimestamp);
    const revisionOfPod = (p: Pod) => p.metadata.labels?.[REVISION_LABEL];
    const updated = pods.filter((p) => revisionOfPod(p) === updateRevision).length;
    const replicas = sts.spec.replicas ?? 1;
    const prevCurrent =
      typeof sts.status?.currentRevision === "string" ? sts.status.currentRevision : undefined;
    // The current revision catches up once every pod runs the update revision.
    const currentRevision =
      prevCurrent === undefined || (updated === replicas && pods.length === replicas)
        ? updateRevision
        : prevCurrent;
    const ready = live.filter(isPodReady).length;
    const status = {
      observedGeneration: sts.metadata.generation ?? 1,
      replicas: pods.length,
      readyReplicas: ready,
      currentReplicas: pods.filter((p) => revisionOfPod(p) === currentRevision).length,
      updatedReplicas: updated,
      availableReplicas: ready,
      currentRevision,
      updateRevision,
      collisionCount: 0,
    };
    if (JSON.stringify(sts.status) === JSON.stringify(status)) return;
    this.registry.store.mutate(STATEFULSETS, sts.metadata.namespace, sts.metadata.name ?? "", (o) => {
      o.status = status;
    });
  }
}
