import { createHash } from "node:crypto";
import type { Registry } from "./registry.js";
import { ownedBy, WorkQueue } from "./replicaset-controller.js";
import { DEPLOYMENTS, REPLICASETS } from "./resources.js";
import type { StoreEvent } from "./store.js";
import {
  type Deployment,
  deepClone,
  type KObject,
  nowIso,
  type PodTemplate,
  type ReplicaSet,
} from "./types.js";

export const POD_TEMPLATE_HASH_LABEL = "pod-template-hash";
export const REVISION_ANNOTATION = "deployment.kubernetes.io/revision";
export const DESIRED_REPLICAS_ANNOTATION = "deployment.kubernetes.io/desired-replicas";
export const MAX_REPLICAS_ANNOTATION = "deployment.kubernetes.io/max-replicas";

/** Deployment annotations the controller does not copy onto its ReplicaSets (as the real one skips them). */
const SKIPPED_ANNOTATIONS = new Set([
  REVISION_ANNOTATION,
  DESIRED_REPLICAS_ANNOTATION,
  MAX_REPLICAS_ANNOTATION,
  "kubectl.kubernetes.io/last-applied-configuration",
  "deployment.kubernetes.io/revision-history",
]);

const HASH_ALPHABET = "bcdfghjklmnpqrstvwxz2456789";

/**
 * A template as JSON with sorted keys, no nulls and no pod-template-hash label: kubectl rollout undo sends
 * back a ReplicaSet's template as Go re-serialised it (other key order, `creationTimestamp: null`), which
 * must still match that ReplicaSet, as the real controller's semantic comparison does.
 */
export function canonicalTemplate(template: PodTemplate): string {
  const copy = deepClone(template) as PodTemplate;
  if (copy.metadata?.labels) {
    delete copy.metadata.labels[POD_TEMPLATE_HASH_LABEL];
  }
  const norm = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(norm);
    if (typeof v === "object" && v !== null) {
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v).sort()) {
        const x = (v as Record<string, unknown>)[k];
        if (x === null || x === undefined) continue;
        const n = norm(x);
        if (typeof n === "object" && n !== null && !Array.isArray(n) && Object.keys(n).length === 0) continue;
        out[k] = n;
      }
      return out;
    }
    return v;
  };
  return JSON.stringify(norm(copy));
}

export function templateHash(template: PodTemplate): string {
  const digest = createHash("sha256").update(canonicalTemplate(template)).digest();
  let s = "";
  for (let i = 0; i < 10; i++) s += HASH_ALPHABET[digest[i]! % HASH_ALPHABET.length];
  return s;
}

/** maxSurge / maxUnavailable: an integer or a percentage of replicas (surge rounds up, unavailable down). */
export function resolveIntOrPercent(
  value: number | string | undefined,
  total: number,
  roundUp: boolean,
): number {
  if (value === undefined) return Math.floor(total / 4);
  if (typeof value === "number") return value;
  const m = /^(\d+)%$/.exec(value);
  if (!m) {
    const n = Number(value);
    if (Number.isInteger(n)) return n;
    throw new Error(`invalid int-or-percent ${JSON.stringify(value)}`);
  }
  const raw = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(raw) : Math.floor(raw);
}

/** The real ResolveFenceposts: both 0 would block a rollout, so maxUnavailable becomes 1. */
export function fenceposts(d: Deployment): { maxSurge: number; maxUnavailable: number } {
  const replicas = d.spec.replicas ?? 1;
  const ru = d.spec.strategy?.rollingUpdate;
  const maxSurge = resolveIntOrPercent(ru?.maxSurge ?? "25%", replicas, true);
  let maxUnavailable = resolveIntOrPercent(ru?.maxUnavailable ?? "25%", replicas, false);
  if (maxSurge === 0 && maxUnavailable === 0) maxUnavailable = 1;
  return { maxSurge, maxUnavailable };
}

function revisionOf(rs: KObject): number {
  const n = Number(rs.metadata.annotations?.[REVISION_ANNOTATION] ?? "0");
  return Number.isFinite(n) ? n : 0;
}

const replicasOf = (rs: ReplicaSet) => rs.spec.replicas ?? 0;
const availableOf = (rs: ReplicaSet) => Number(rs.status?.availableReplicas ?? 0);
const byAge = (a: KObject, b: KObject) =>
  Date.parse(a.metadata.creationTimestamp ?? "") - Date.parse(b.metadata.creationTimestamp ?? "") ||
  (a.metadata.name ?? "").localeCompare(b.metadata.name ?? "");

/**
 * The Deployment controller, after the real one (pkg/controller/deployment): one ReplicaSet per pod
 * template (`<name>-<pod-template-hash>`, revision in `deployment.kubernetes.io/revision`), a rolling
 * update within maxSurge / maxUnavailable (old ReplicaSets scaled down oldest first, unhealthy pods first),
 * Recreate, `paused` (no new ReplicaSet, scaling only), scale events, undo by reusing the ReplicaSet whose
 * template matches, and the status and conditions `kubectl rollout status` reads. It acts only once every
 * ReplicaSet's controller has observed its last write, so it never scales twice on one stale status.
 */
export class DeploymentController {
  private unsubscribe: (() => void) | undefined;
  private readonly queue: WorkQueue;

  constructor(
    private readonly registry: Registry,
    private readonly log: (line: string) => void = () => {},
  ) {
    this.queue = new WorkQueue((ns, name) => this.sync(ns, name), log, "deployment");
  }

  start(): void {
    const store = this.registry.store;
    this.unsubscribe = store.subscribe((e) => this.onEvent(e));
    for (const d of store.list(DEPLOYMENTS))
      this.queue.add(d.metadata.namespace ?? "", d.metadata.name ?? "");
  }

  stop(): void {
    this.unsubscribe?.();
  }

  private onEvent(e: StoreEvent): void {
    const ns = e.object.metadata.namespace ?? "";
    if (e.resource === DEPLOYMENTS) {
      if (e.type !== "DELETED") this.queue.add(ns, e.object.metadata.name ?? "");
    } else if (e.resource === REPLICASETS) {
      for (const ref of e.object.metadata.ownerReferences ?? []) {
        if (ref.kind === "Deployment" && ref.controller) this.queue.add(ns, ref.name);
      }
    }
  }

  private sync(namespace: string, name: string): void {
    const store = this.registry.store;
    const d = store.peek(DEPLOYMENTS, namespace, name) as Deployment | undefined;
    if (!d || d.metadata.deletionTimestamp) return;
    const all = (store.list(REPLICASETS, namespace, ownedBy(d)) as ReplicaSet[]).sort(byAge);
    // A ReplicaSet whose controller has not caught up reports a stale status: wait for its next write.
    if (all.some((rs) => Number(rs.status?.observedGeneration ?? 0) < (rs.metadata.generation ?? 1))) return;
    const key = canonicalTemplate(d.spec.template);
    let newRS = all.find((rs) => canonicalTemplate(rs.spec.template) === key);
    const old = all.filter((rs) => rs !== newRS);
    const replicas = d.spec.replicas ?? 1;
    const { maxSurge, maxUnavailable } = fenceposts(d);
    const recreate = d.spec.strategy?.type === "Recreate";

    if (d.spec.paused) {
      this.scaleEvent(d, newRS, old, maxSurge);
      this.writeStatus(d, newRS, all);
      return;
    }

    const maxOldRevision = Math.max(0, ...old.map(revisionOf));
    if (!newRS) {
      const oldTotal = old.reduce((n, rs) => n + replicasOf(rs), 0);
      const initial = recreate ? 0 : Math.max(0, Math.min(replicas, replicas + maxSurge - oldTotal));
      newRS = this.createReplicaSet(d, initial, maxOldRevision + 1, maxSurge);
      this.writeStatus(d, newRS, [...old, newRS]);
      return;
    }
    if (revisionOf(newRS) <= maxOldRevision) {
      // Undo (or a template back to an old one): that ReplicaSet becomes the newest revision again.
      this.setRevision(newRS, maxOldRevision + 1);
      return;
    }
    if (d.metadata.annotations?.[REVISION_ANNOTATION] !== String(revisionOf(newRS))) {
      store.mutate(DEPLOYMENTS, namespace, name, (o) => {
        o.metadata.annotations = {
          ...o.metadata.annotations,
          [REVISION_ANNOTATION]: String(revisionOf(newRS)),
        };
      });
      return;
    }

    const acted = recreate
      ? this.recreate(d, newRS, old)
      : this.scaleEvent(d, newRS, old, maxSurge) ||
        this.reconcileNew(d, newRS, old, maxSurge) ||
        this.reconcileOld(d, newRS, old, maxUnavailable);
    if (!acted) this.cleanup(d, old);
    this.writeStatus(d, newRS, all);
  }

  private createReplicaSet(d: Deployment, replicas: number, revision: number, maxSurge: number): ReplicaSet {
    const template = deepClone(d.spec.template);
    const hash = templateHash(template);
    template.metadata = {
      ...template.metadata,
      labels: { ...template.metadata?.labels, [POD_TEMPLATE_HASH_LABEL]: hash },
    };
    const annotations: Record<string, string> = {};
    for (const [k, v] of Object.entries(d.metadata.annotations ?? {}))
      if (!SKIPPED_ANNOTATIONS.has(k)) annotations[k] = v;
    const rs = this.registry.create(REPLICASETS, d.metadata.namespace, {
      metadata: {
        name: `${d.metadata.name}-${hash}`,
        namespace: d.metadata.namespace,
        labels: { ...d.spec.template.metadata?.labels, [POD_TEMPLATE_HASH_LABEL]: hash },
        annotations: {
          ...annotations,
          [REVISION_ANNOTATION]: String(revision),
          [DESIRED_REPLICAS_ANNOTATION]: String(d.spec.replicas ?? 1),
          [MAX_REPLICAS_ANNOTATION]: String((d.spec.replicas ?? 1) + maxSurge),
        },
        ownerReferences: [
          {
            apiVersion: "apps/v1",
            kind: "Deployment",
            name: d.metadata.name ?? "",
            uid: d.metadata.uid ?? "",
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      spec: {
        replicas,
        minReadySeconds: d.spec.minReadySeconds ?? 0,
        selector: {
          ...d.spec.selector,
          matchLabels: { ...d.spec.selector.matchLabels, [POD_TEMPLATE_HASH_LABEL]: hash },
        },
        template,
      },
    }) as ReplicaSet;
    this.log(
      `deployment ${d.metadata.namespace}/${d.metadata.name}: created ${rs.metadata.name} (revision ${revision}, ${replicas} replicas)`,
    );
    return rs;
  }

  private setRevision(rs: ReplicaSet, revision: number): void {
    this.registry.store.mutate(REPLICASETS, rs.metadata.namespace, rs.metadata.name ?? "", (o) => {
      o.metadata.annotations = { ...o.metadata.annotations, [REVISION_ANNOTATION]: String(revision) };
    });
  }

  private scaleRS(d: Deployment, rs: ReplicaSet, replicas: number, maxSurge: number): void {
    this.registry.store.mutate(REPLICASETS, rs.metadata.namespace, rs.metadata.name ?? "", (o) => {
      (o as ReplicaSet).spec.replicas = replicas;
      o.metadata.annotations = {
        ...o.metadata.annotations,
        [DESIRED_REPLICAS_ANNOTATION]: String(d.spec.replicas ?? 1),
        [MAX_REPLICAS_ANNOTATION]: String((d.spec.replicas ?? 1) + maxSurge),
      };
    });
    this.log(
      `deployment ${d.metadata.namespace}/${d.metadata.name}: scaled ${rs.metadata.name} ${replicasOf(rs)} -> ${replicas}`,
    );
  }

  /**
   * `kubectl scale` (or an HPA) changed replicas. With one active ReplicaSet it takes the new count; with
   * several (mid-rollout) the change is spread in proportion to their sizes, the rest to the newest.
   */
  private scaleEvent(
    d: Deployment,
    newRS: ReplicaSet | undefined,
    old: ReplicaSet[],
    maxSurge: number,
  ): boolean {
    const replicas = d.spec.replicas ?? 1;
    const active = [...old, ...(newRS ? [newRS] : [])].filter((rs) => replicasOf(rs) > 0);
    const desired = (rs: ReplicaSet) =>
      Number(rs.metadata.annotations?.[DESIRED_REPLICAS_ANNOTATION] ?? replicas);
    if (active.length === 0) {
      const latest = newRS ?? old[old.length - 1];
      if (!latest || desired(latest) === replicas) return false;
      this.scaleRS(d, latest, replicas, maxSurge);
      return true;
    }
    if (!active.some((rs) => desired(rs) !== replicas)) return false;
    if (active.length === 1) {
      this.scaleRS(d, active[0]!, replicas, maxSurge);
      return true;
    }
    const allowed = replicas + (d.spec.paused ? 0 : maxSurge);
    const current = active.reduce((n, rs) => n + replicasOf(rs), 0);
    const delta = allowed - current;
    if (delta === 0) {
      for (const rs of active) this.scaleRS(d, rs, replicasOf(rs), maxSurge);
      return true;
    }
    const sizes = new Map(active.map((rs) => [rs, replicasOf(rs)]));
    const ordered = [...active].sort((a, b) => replicasOf(b) - replicasOf(a));
    let left = delta;
    for (const rs of ordered) {
      const share =
        delta > 0
          ? Math.floor((delta * replicasOf(rs)) / current)
          : Math.ceil((delta * replicasOf(rs)) / current);
      const next = Math.max(0, replicasOf(rs) + share);
      left -= next - replicasOf(rs);
      sizes.set(rs, next);
    }
    const newest = newRS && sizes.has(newRS) ? newRS : ordered[0]!;
    sizes.set(newest, Math.max(0, (sizes.get(newest) ?? 0) + left));
    for (const [rs, n] of sizes) this.scaleRS(d, rs, n, maxSurge);
    return true;
  }

  private reconcileNew(d: Deployment, newRS: ReplicaSet, old: ReplicaSet[], maxSurge: number): boolean {
    const replicas = d.spec.replicas ?? 1;
    const cur = replicasOf(newRS);
    if (cur === replicas) return false;
    if (cur > replicas) {
      this.scaleRS(d, newRS, replicas, maxSurge);
      return true;
    }
    const total = [...old, newRS].reduce((n, rs) => n + replicasOf(rs), 0);
    const room = replicas + maxSurge - total;
    if (room <= 0) return false;
    this.scaleRS(d, newRS, cur + Math.min(room, replicas - cur), maxSurge);
    return true;
  }

  private reconcileOld(d: Deployment, newRS: ReplicaSet, old: ReplicaSet[], maxUnavailable: number): boolean {
    const replicas = d.spec.replicas ?? 1;
    const oldCount = old.reduce((n, rs) => n + replicasOf(rs), 0);
    if (oldCount === 0) return false;
    const all = [...old, newRS];
    const allCount = all.reduce((n, rs) => n + replicasOf(rs), 0);
    const minAvailable = replicas - maxUnavailable;
    const newUnavailable = replicasOf(newRS) - availableOf(newRS);
    let budget = allCount - minAvailable - newUnavailable;
    if (budget <= 0) return false;
    const next = new Map(old.map((rs) => [rs, replicasOf(rs)]));
    // First the old pods that are not available anyway: scaling them down costs no capacity.
    for (const rs of old) {
      const unhealthy = Math.max(0, replicasOf(rs) - availableOf(rs));
      const cut = Math.min(unhealthy, budget);
      if (cut > 0) {
        next.set(rs, replicasOf(rs) - cut);
        budget -= cut;
      }
    }
    const available = all.reduce((n, rs) => n + availableOf(rs), 0);
    let scaleDown = Math.max(0, available - minAvailable);
    for (const rs of old) {
      if (scaleDown <= 0) break;
      const have = next.get(rs) ?? 0;
      const cut = Math.min(have, scaleDown);
      next.set(rs, have - cut);
      scaleDown -= cut;
    }
    let acted = false;
    for (const [rs, n] of next) {
      if (n !== replicasOf(rs)) {
        this.scaleRS(d, rs, n, fenceposts(d).maxSurge);
        acted = true;
      }
    }
    return acted;
  }

  /** Recreate: every old pod gone (not only scaled down) before the new ReplicaSet scales up. */
  private recreate(d: Deployment, newRS: ReplicaSet, old: ReplicaSet[]): boolean {
    let acted = false;
    for (const rs of old) {
      if (replicasOf(rs) > 0) {
        this.scaleRS(d, rs, 0, 0);
        acted = true;
      }
    }
    if (acted) return true;
    const podsLeft = old.some((rs) => Number(rs.status?.replicas ?? 0) > 0);
    if (podsLeft || replicasOf(newRS) === (d.spec.replicas ?? 1)) return false;
    this.scaleRS(d, newRS, d.spec.replicas ?? 1, 0);
    return true;
  }

  /** Old ReplicaSets at 0 replicas beyond revisionHistoryLimit go, oldest first (their history with them). */
  private cleanup(d: Deployment, old: ReplicaSet[]): void {
    const limit = d.spec.revisionHistoryLimit ?? 10;
    const idle = old.filter((rs) => replicasOf(rs) === 0 && Number(rs.status?.replicas ?? 0) === 0);
    const surplus = idle.length - limit;
    for (const rs of idle.sort((a, b) => revisionOf(a) - revisionOf(b)).slice(0, Math.max(0, surplus))) {
      this.registry.delete(REPLICASETS, rs.metadata.namespace, rs.metadata.name ?? "");
    }
  }

  private writeStatus(d: Deployment, newRS: ReplicaSet | undefined, all: ReplicaSet[]): void {
    const store = this.registry.store;
    const cur = all.map(
      (rs) => (store.peek(REPLICASETS, rs.metadata.namespace, rs.metadata.name ?? "") as ReplicaSet) ?? rs,
    );
    const sum = (f: (rs: ReplicaSet) => number) => cur.reduce((n, rs) => n + f(rs), 0);
    const replicas = d.spec.replicas ?? 1;
    const freshNew = newRS ? cur.find((rs) => rs.metadata.uid === newRS.metadata.uid) : undefined;
    const updated = freshNew ? Number(freshNew.status?.replicas ?? 0) : 0;
    const total = sum((rs) => Number(rs.status?.replicas ?? 0));
    const ready = sum((rs) => Number(rs.status?.readyReplicas ?? 0));
    const available = sum(availableOf);
    const { maxUnavailable } = fenceposts(d);
    const complete = updated === replicas && available >= replicas && total === replicas;
    const prev = (d.status?.conditions ?? []) as {
      type: string;
      status: string;
      reason: string;
      lastTransitionTime?: string;
    }[];
    const cond = (type: string, status: string, reason: string, message: string) => {
      const before = prev.find((c) => c.type === type);
      const same = before && before.status === status && before.reason === reason;
      return {
        type,
        status,
        reason,
        message,
        lastUpdateTime: same ? ((before as Record<string, unknown>).lastUpdateTime ?? nowIso()) : nowIso(),
        lastTransitionTime:
          before && before.status === status ? (before.lastTransitionTime ?? nowIso()) : nowIso(),
      };
    };
    const rsName = freshNew?.metadata.name ?? "";
    const conditions = [
      available >= replicas - maxUnavailable
        ? cond("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
        : cond(
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
          ),
      d.spec.paused
        ? cond("Progressing", "Unknown", "DeploymentPaused", "Deployment is paused")
        : complete
          ? cond(
              "Progressing",
              "True",
              "NewReplicaSetAvailable",
              `ReplicaSet "${rsName}" has successfully progressed.`,
            )
          : cond("Progressing", "True", "ReplicaSetUpdated", `ReplicaSet "${rsName}" is progressing.`),
    ];
    const status = {
      observedGeneration: d.metadata.generation ?? 1,
      replicas: total,
      updatedReplicas: updated,
      readyReplicas: ready,
      availableReplicas: available,
      ...(replicas - available > 0 ? { unavailableReplicas: replicas - available } : {}),
      conditions,
    };
    const strip = (s: unknown) =>
      JSON.stringify(s, (k, v) =>
        k === "lastUpdateTime" || k === "lastTransitionTime" ? undefined : (v as unknown),
      );
    if (strip(d.status) === strip(status)) return;
    store.mutate(DEPLOYMENTS, d.metadata.namespace, d.metadata.name ?? "", (o) => {
      o.status = status;
    });
  }
}
