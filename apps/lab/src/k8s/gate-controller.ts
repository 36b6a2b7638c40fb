import type { Registry } from "./registry.js";
import { PODS } from "./resources.js";
import type { StoreEvent } from "./store.js";
import { conditionOf, nowIso, type Pod } from "./types.js";

/**
 * Plays the controller that owns a readiness gate on a real cluster (as the AWS load balancer controller
 * does for its gate): once a new pod's containers are ready, it sets the gate's condition True, once.
 * It never touches a condition that exists: a False set by Ebb stays False until Ebb changes it.
 */
export class GateController {
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly registry: Registry,
    private readonly conditionType: string,
  ) {}

  start(): void {
    this.unsubscribe = this.registry.store.subscribe((e) => this.onEvent(e));
  }

  stop(): void {
    this.unsubscribe?.();
  }

  private onEvent(e: StoreEvent): void {
    if (e.resource !== PODS || e.type === "DELETED") return;
    const pod = e.object as Pod;
    if (pod.metadata.deletionTimestamp) return;
    if (!(pod.spec.readinessGates ?? []).some((g) => g.conditionType === this.conditionType)) return;
    if (conditionOf(pod, this.conditionType) || conditionOf(pod, "ContainersReady")?.status !== "True")
      return;
    const uid = pod.metadata.uid;
    queueMicrotask(() => {
      const cur = this.registry.store.peek(PODS, pod.metadata.namespace, pod.metadata.name ?? "") as
        | Pod
        | undefined;
      if (!cur || cur.metadata.uid !== uid || conditionOf(cur, this.conditionType)) return;
      this.registry.store.mutate(PODS, pod.metadata.namespace, pod.metadata.name ?? "", (o) => {
        const p = o as Pod;
        p.status ??= {};
        p.status.conditions ??= [];
        p.status.conditions.push({
          type: this.conditionType,
          status: "True",
          lastProbeTime: null,
          lastTransitionTime: nowIso(),
          reason: "LabGateController",
        });
      });
    });
  }
}
