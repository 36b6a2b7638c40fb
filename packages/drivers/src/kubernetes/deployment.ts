import { createHash } from "node:crypto";
import { EbbError } from "@ebb/core";
import {
  AutoscalingV2Api,
  type V1Deployment,
  type V1Pod,
  type V1PodTemplateSpec,
  type V1ReplicaSet,
} from "@kubernetes/client-node";
import { VERSION_ANNOTATION } from "./config.js";
import { mergePatch } from "./kube.js";
import { type PodFacts, podFacts, withImageTag } from "./pods.js";
import { setReadiness } from "./readiness.js";
import type { DeletePodOptions, DeleteResult, ReplacementCheck } from "./replacement.js";
import { assertVersionText } from "./template.js";
import { checkEndpointRemoved, type WaitOptions, waitUntil } from "./waits.js";
import type { FleetWorkload } from "./workload.js";

/**
 * A Deployment driven the way Argo Rollouts drives ReplicaSets. The Deployment is paused for the whole
 * rollout, so its controller only keeps status (and would rescale on a change of spec.replicas, which
 * preflight rules out by refusing an HPA); Ebb moves the two ReplicaSets itself, one drained pod at a time.
 *
 * What the cluster records (so a worker that resumes after kill -9 decides the same way, whatever Ebb's
 * database says):
 * - on the Deployment, `ebb.dev/rollout`: the version, the old ReplicaSet and its replicas at the start, the
 *   new ReplicaSet, the Deployment's replicas. Present from the first delete until the rollout finishes or
 *   is aborted.
 * - on the old ReplicaSet, `ebb.dev/retired`: the pods Ebb drained and retired; its spec.replicas is the
 *   start count minus that list, written in the same patch (a resourceVersion precondition: two targets of a
 *   batch never overwrite each other).
 * - on each retired pod, `controller.kubernetes.io/pod-deletion-cost: "-1000"`: the ReplicaSet controller
 *   deletes it, and not another pod, on that scale-down.
 * - on each new pod, `ebb.dev/replaces`: the retired pod (a target) it stands for, claimed with a precondition.
 */
export const ROLLOUT_ANNOTATION = "ebb.dev/rollout";
export const RETIRED_ANNOTATION = "ebb.dev/retired";
export const REPLACES_ANNOTATION = "ebb.dev/replaces";
export const DELETION_COST_ANNOTATION = "controller.kubernetes.io/pod-deletion-cost";
const RETIRED_COST = "-1000";
const POD_TEMPLATE_HASH = "pod-template-hash";
const REVISION = "deployment.kubernetes.io/revision";
const DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas";
const MAX_REPLICAS = "deployment.kubernetes.io/max-replicas";

export interface DeploymentRolloutRecord {
  version: string;
  /** The old ReplicaSet and its replicas when the rollout started. */
  from: string;
  fromReplicas: number;
  /** The new ReplicaSet ("" until created). */
  to: string;
  /** The Deployment's spec.replicas when the rollout started. */
  replicas: number;
}

export function rolloutRecord(d: V1Deployment): DeploymentRolloutRecord | undefined {
  const text = d.metadata?.annotations?.[ROLLOUT_ANNOTATION];
  if (!text) return undefined;
  try {
    return JSON.parse(text) as DeploymentRolloutRecord;
  } catch {
    return undefined;
  }
}

/**
 * A pod template as JSON with sorted keys, no empty values and no pod-template-hash label: the controller
 * finds "its" new ReplicaSet by comparing templates while ignoring that label (FindNewReplicaSet), which is
 * why a ReplicaSet Ebb creates is adopted, whatever hash its name carries.
 */
export function canonicalTemplate(template: V1PodTemplateSpec | undefined): string {
  const copy = structuredClone(template ?? {}) as V1PodTemplateSpec;
  if (copy.metadata?.labels) delete copy.metadata.labels[POD_TEMPLATE_HASH];
  const norm = (v: unknown): unknown => {
    if (v instanceof Date) return v.toISOString();
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

const HASH_ALPHABET = "bcdfghjklmnpqrstvwxz2456789";

function templateHash(template: V1PodTemplateSpec | undefined): string {
  const digest = createHash("sha256").update(canonicalTemplate(template)).digest();
  let s = "";
  for (let i = 0; i < 10; i++) s += HASH_ALPHABET[digest[i]! % HASH_ALPHABET.length];
  return s;
}

const replicasOf = (rs: { spec?: { replicas?: number } } | undefined) => rs?.spec?.replicas ?? 0;

function ownedBy(
  obj: { metadata?: { ownerReferences?: { uid: string; controller?: boolean }[] } },
  uid?: string,
) {
  return (obj.metadata?.ownerReferences ?? []).some((r) => r.controller && r.uid === uid);
}

function intOrPercent(value: number | string | undefined, total: number, up: boolean, dflt: string): number {
  const v = value ?? dflt;
  if (typeof v === "number") return v;
  const m = /^(\d+)%$/.exec(v);
  if (!m) return Number(v) || 0;
  const raw = (Number(m[1]) * total) / 100;
  return up ? Math.ceil(raw) : Math.floor(raw);
}

async function replicaSets(w: FleetWorkload, d: V1Deployment): Promise<V1ReplicaSet[]> {
  const labelSelector = await w.podSelector();
  const list = await w.api(`list replicasets ${w.ns} (${labelSelector})`, () =>
    w.clients.apps.listNamespacedReplicaSet({ namespace: w.ns, labelSelector }),
  );
  return list.items.filter((rs) => ownedBy(rs, d.metadata?.uid));
}

async function listPods(w: FleetWorkload): Promise<V1Pod[]> {
  const labelSelector = await w.podSelector();
  const list = await w.api(`list pods ${w.ns} (${labelSelector})`, () =>
    w.clients.core.listNamespacedPod({ namespace: w.ns, labelSelector }),
  );
  return list.items;
}

async function readReplicaSet(w: FleetWorkload, name: string): Promise<V1ReplicaSet> {
  return w.api(`read replicaset ${w.ns}/${name}`, () =>
    w.clients.apps.readNamespacedReplicaSet({ name, namespace: w.ns }),
  );
}

/** A merge patch with a resourceVersion precondition, retried on conflict with `build` run on a fresh read. */
async function patchReplicaSet(
  w: FleetWorkload,
  name: string,
  build: (rs: V1ReplicaSet) => Record<string, unknown> | null,
): Promise<V1ReplicaSet> {
  for (let attempt = 0; ; attempt++) {
    const rs = await readReplicaSet(w, name);
    const body = build(rs);
    if (body === null) return rs;
    const meta = (body.metadata ?? {}) as Record<string, unknown>;
    try {
      return await w.api(`patch replicaset ${w.ns}/${name}`, () =>
        w.clients.apps.patchNamespacedReplicaSet(
          {
            name,
            namespace: w.ns,
            body: { ...body, metadata: { ...meta, resourceVersion: rs.metadata?.resourceVersion } },
          },
          mergePatch(),
        ),
      );
    } catch (err) {
      if (!(err instanceof EbbError && err.code === "conflict") || attempt >= 8) throw err;
    }
  }
}

export interface DeploymentProblem {
  why: string;
  fix: string;
}

/**
 * Why Ebb cannot drive this Deployment safely now, each with what to change; empty when it can. A rollout
 * of Ebb's own in progress (the `ebb.dev/rollout` record) is not a problem for the same version (it resumes).
 */
export function deploymentProblems(
  d: V1Deployment,
  rss: readonly V1ReplicaSet[],
  hpas: readonly {
    metadata?: { name?: string };
    spec?: { scaleTargetRef?: { kind?: string; name?: string }; minReplicas?: number; maxReplicas?: number };
  }[],
  version?: string,
): DeploymentProblem[] {
  const name = d.metadata?.name ?? "";
  const out: DeploymentProblem[] = [];
  const rec = rolloutRecord(d);
  if (rec) {
    if (version === undefined || rec.version !== version) {
      out.push({
        why: `an Ebb rollout of Deployment ${name} to ${rec.version} is in progress (annotation ${ROLLOUT_ANNOTATION})`,
        fix: `resume, retry or abort that rollout first`,
      });
    }
    return out;
  }
  if (d.spec?.strategy?.type === "Recreate") {
    out.push({
      why: `Deployment ${name} has strategy Recreate: it declares that the old and new versions must never run side by side, which a rollout in batches does`,
      fix: "set spec.strategy.type: RollingUpdate if the versions may overlap; otherwise Ebb cannot roll it without downtime",
    });
  }
  if (d.spec?.paused) {
    out.push({
      why: `Deployment ${name} is paused by someone else (no ${ROLLOUT_ANNOTATION} record): a rollout of theirs may be half done`,
      fix: `finish it (kubectl rollout resume deployment/${name}; kubectl rollout status) or undo it, then start Ebb's`,
    });
  }
  const active = rss.filter((rs) => replicasOf(rs) > 0);
  const generation = d.metadata?.generation ?? 0;
  const observed = d.status?.observedGeneration ?? 0;
  const replicas = d.spec?.replicas ?? 1;
  if (active.length > 1 || observed < generation || (d.status?.updatedReplicas ?? 0) < replicas) {
    out.push({
      why: `Deployment ${name} is in the middle of its controller's own rollout (${active.length} ReplicaSets with pods, ${d.status?.updatedReplicas ?? 0}/${replicas} updated)`,
      fix: `wait until kubectl rollout status deployment/${name} reports it complete`,
    });
  }
  if (active.length === 0 && replicas > 0) {
    out.push({
      why: `Deployment ${name} has no ReplicaSet with pods yet`,
      fix: `wait until kubectl rollout status deployment/${name} reports it complete`,
    });
  }
  for (const hpa of hpas) {
    const ref = hpa.spec?.scaleTargetRef;
    if (ref?.kind !== "Deployment" || ref.name !== name) continue;
    if (hpa.spec?.minReplicas !== undefined && hpa.spec.minReplicas === hpa.spec.maxReplicas) continue;
    out.push({
      why: `HorizontalPodAutoscaler ${hpa.metadata?.name} scales Deployment ${name}: a change of spec.replicas while Ebb holds it paused makes the controller rescale both ReplicaSets in proportion, racing the counts Ebb sets`,
      fix: `pin it for the rollout (minReplicas = maxReplicas = ${replicas}) or remove it, and put it back after`,
    });
  }
  return out;
}

/** The HPAs of the namespace; an HPA Ebb may not list (RBAC, no API) is none it can see. */
export async function namespaceHpas(w: FleetWorkload) {
  try {
    const autoscaling = w.clients.kc.makeApiClient(AutoscalingV2Api);
    return (
      await w.api(`list horizontalpodautoscalers ${w.ns}`, () =>
        autoscaling.listNamespacedHorizontalPodAutoscaler({ namespace: w.ns }),
      )
    ).items;
  } catch (err) {
    if (err instanceof EbbError && (err.code === "not_found" || err.retryable === false)) return [];
    throw err;
  }
}

/** Preflight: the problems of the fleet's Deployment (none for a StatefulSet fleet). */
export async function checkDeployment(w: FleetWorkload): Promise<DeploymentProblem[]> {
  if (w.config.workload.kind !== "Deployment") return [];
  const d = await w.deployment();
  const [rss, hpas] = await Promise.all([replicaSets(w, d), namespaceHpas(w)]);
  return deploymentProblems(d, rss, hpas);
}

function refuse(problems: DeploymentProblem[]): never {
  throw new EbbError("param_invalid", problems.map((p) => `${p.why}. Fix: ${p.fix}`).join("; "), {
    details: { reason: "deployment_not_drivable", problems },
  });
}

/**
 * Deploy, for a Deployment: pause it, record the rollout, set its template to the version (paused, the
 * controller creates no ReplicaSet for it: the real one only scales while paused), and create the new
 * ReplicaSet at 0 replicas as the controller would (owner reference, revision, template hash label).
 * Idempotent: the record and the ReplicaSet's deterministic name make every later call find the same ones.
 */
export async function prepareDeployment(
  w: FleetWorkload,
  version: string,
): Promise<{ revision: string; changed: boolean }> {
  assertVersionText(version);
  const name = w.config.workload.name;
  let d = await w.deployment();
  let rss = await replicaSets(w, d);
  let rec = rolloutRecord(d);
  let changed = false;
  if (!rec || rec.version !== version) {
    const problems = deploymentProblems(d, rss, await namespaceHpas(w), version);
    if (problems.length > 0) refuse(problems);
    const from = rss.find((rs) => replicasOf(rs) > 0)!;
    rec = {
      version,
      from: from.metadata?.name ?? "",
      fromReplicas: replicasOf(from),
      to: "",
      replicas: d.spec?.replicas ?? 1,
    };
    const containerName = w.config.versionContainer;
    const container = containerName
      ? d.spec?.template?.spec?.containers.find((c) => c.name === containerName)
      : undefined;
    if (containerName && !container) {
      throw new EbbError(
        "param_invalid",
        `balancerConfig.versionContainer: Deployment ${name} has no container ${containerName}`,
        {
          details: [{ field: "balancerConfig.versionContainer", message: "no such container" }],
        },
      );
    }
    const template = structuredClone(d.spec?.template ?? {}) as V1PodTemplateSpec;
    template.metadata = {
      ...template.metadata,
      annotations: { ...template.metadata?.annotations, [VERSION_ANNOTATION]: version },
    };
    if (container?.image && template.spec) {
      template.spec.containers = template.spec.containers.map((c) =>
        c.name === containerName ? { ...c, image: withImageTag(c.image ?? "", version) } : c,
      );
    }
    // One write: the controller never sees the new template without the pause (a replace carries the
    // resourceVersion read above, so a concurrent first step of another target conflicts and re-reads).
    const next: V1Deployment = {
      ...d,
      metadata: {
        ...d.metadata,
        annotations: { ...d.metadata?.annotations, [ROLLOUT_ANNOTATION]: JSON.stringify(rec) },
      },
      spec: { ...d.spec!, paused: true, template },
    };
    try {
      d = await w.api(`pause deployment ${w.ns}/${name} at ${version}`, () =>
        w.clients.apps.replaceNamespacedDeployment({ name, namespace: w.ns, body: next }),
      );
      changed = true;
    } catch (err) {
      if (!(err instanceof EbbError && err.code === "conflict")) throw err;
      d = await w.deployment();
      rec = rolloutRecord(d);
      if (!rec || rec.version !== version) throw err;
    }
    rss = await replicaSets(w, d);
  }
  const key = canonicalTemplate(d.spec?.template);
  let newRS = rss.find((rs) => canonicalTemplate(rs.spec?.template) === key);
  if (!newRS) newRS = await createReplicaSet(w, d, rss);
  const to = newRS.metadata?.name ?? "";
  if (rec.to !== to) {
    const recorded = { ...rec, to };
    await w.api(`record rollout on deployment ${w.ns}/${name}`, () =>
      w.clients.apps.patchNamespacedDeployment(
        {
          name,
          namespace: w.ns,
          body: { metadata: { annotations: { [ROLLOUT_ANNOTATION]: JSON.stringify(recorded) } } },
        },
        mergePatch(),
      ),
    );
  }
  return { revision: newRS.metadata?.annotations?.[REVISION] ?? to, changed };
}

async function createReplicaSet(
  w: FleetWorkload,
  d: V1Deployment,
  rss: V1ReplicaSet[],
): Promise<V1ReplicaSet> {
  const hash = templateHash(d.spec?.template);
  const name = `${d.metadata?.name}-${hash}`;
  const replicas = d.spec?.replicas ?? 1;
  const maxSurge = intOrPercent(d.spec?.strategy?.rollingUpdate?.maxSurge, replicas, true, "25%");
  const revision =
    Math.max(0, ...rss.map((rs) => Number(rs.metadata?.annotations?.[REVISION] ?? 0) || 0)) + 1;
  const template = structuredClone(d.spec?.template ?? {}) as V1PodTemplateSpec;
  template.metadata = {
    ...template.metadata,
    labels: { ...template.metadata?.labels, [POD_TEMPLATE_HASH]: hash },
  };
  const body: V1ReplicaSet = {
    apiVersion: "apps/v1",
    kind: "ReplicaSet",
    metadata: {
      name,
      namespace: w.ns,
      labels: { ...d.spec?.template?.metadata?.labels, [POD_TEMPLATE_HASH]: hash },
      annotations: {
        [REVISION]: String(revision),
        // What the controller writes: with them equal to spec.replicas it sees no scaling event.
        [DESIRED_REPLICAS]: String(replicas),
        [MAX_REPLICAS]: String(replicas + maxSurge),
      },
      ownerReferences: [
        {
          apiVersion: "apps/v1",
          kind: "Deployment",
          name: d.metadata?.name ?? "",
          uid: d.metadata?.uid ?? "",
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      replicas: 0,
      ...(d.spec?.minReadySeconds !== undefined ? { minReadySeconds: d.spec.minReadySeconds } : {}),
      selector: {
        ...d.spec?.selector,
        matchLabels: { ...d.spec?.selector?.matchLabels, [POD_TEMPLATE_HASH]: hash },
      },
      template,
    },
  };
  try {
    return await w.api(`create replicaset ${w.ns}/${name}`, () =>
      w.clients.apps.createNamespacedReplicaSet({ namespace: w.ns, body }),
    );
  } catch (err) {
    // Another target's first step created it a moment ago: same template, same name.
    if (err instanceof EbbError && err.code === "conflict") return readReplicaSet(w, name);
    throw err;
  }
}

async function mustRecord(w: FleetWorkload): Promise<{ d: V1Deployment; rec: DeploymentRolloutRecord }> {
  const d = await w.deployment();
  const rec = rolloutRecord(d);
  if (!rec?.to) {
    throw new EbbError(
      "step_failed",
      `Deployment ${w.config.workload.name} has no Ebb rollout recorded (${ROLLOUT_ANNOTATION}): it finished or was aborted`,
      { details: { reason: "no_rollout_record" } },
    );
  }
  return { d, rec };
}

/** The retired pods list on the old ReplicaSet, and its replicas from it (start count minus the list). */
function retiredOf(rs: V1ReplicaSet): string[] {
  const text = rs.metadata?.annotations?.[RETIRED_ANNOTATION];
  return text ? text.split(",").filter(Boolean) : [];
}

/**
 * k8s.deletePod for a Deployment: the drained pod is marked with the lowest deletion cost and added to the
 * old ReplicaSet's retired list, whose replicas drop by one in the same write (its controller deletes the
 * marked pod, with the pod's own grace period: preStop, SIGTERM); then the new ReplicaSet grows to the
 * Deployment's replicas minus the old one's. Re-run after a crash, every write finds itself done.
 */
export async function retirePod(
  w: FleetWorkload,
  name: string,
  opts: DeletePodOptions = {},
): Promise<DeleteResult> {
  const started = w.now();
  const pod = await w.readPod(name);
  if (!pod) return { outcome: "already-gone", waitedMs: 0 };
  const facts = podFacts(pod, w.config.gate);
  if (opts.uid !== undefined && facts.uid !== opts.uid)
    return { outcome: "replaced", uid: facts.uid, waitedMs: 0 };
  const { rec } = await mustRecord(w);
  const oldRS = await readReplicaSet(w, rec.from);
  if (!ownedBy(pod, oldRS.metadata?.uid)) {
    // A pod of the new ReplicaSet (or of none): already at the version, nothing to retire.
    return { outcome: "replaced", uid: facts.uid, waitedMs: 0 };
  }
  const retired = retiredOf(oldRS).includes(name);
  if (!facts.terminating && !retired && !(await w.isOutOfService(facts)) && !opts.allowInService) {
    throw new EbbError(
      "step_failed",
      `pod ${name} is still in service (gate ${w.config.gate}=${facts.gate ?? "absent"}): take it out (k8s.setReadiness) before retiring it`,
      { details: { target: name, reason: "not_drained" } },
    );
  }
  if (!facts.terminating && pod.metadata?.annotations?.[DELETION_COST_ANNOTATION] !== RETIRED_COST) {
    await w.api(`mark pod ${w.ns}/${name} deletion cost ${RETIRED_COST}`, () =>
      w.clients.core.patchNamespacedPod(
        {
          name,
          namespace: w.ns,
          body: {
            metadata: {
              uid: facts.uid,
              annotations: { [DELETION_COST_ANNOTATION]: RETIRED_COST, [RETIRED_ANNOTATION]: rec.version },
            },
          },
        },
        mergePatch(),
      ),
    );
  }
  const old = await patchReplicaSet(w, rec.from, (rs) => {
    const list = retiredOf(rs);
    if (list.includes(name)) return null;
    const next = [...list, name];
    return {
      metadata: { annotations: { [RETIRED_ANNOTATION]: next.join(",") } },
      spec: { replicas: Math.max(0, Math.min(replicasOf(rs), rec.fromReplicas - next.length)) },
    };
  });
  const wantNew = Math.min(rec.replicas, rec.replicas - replicasOf(old));
  // Only ever raised: with the rollout's maxSurge the take-out raised it further already (surgeDeployment).
  await patchReplicaSet(w, rec.to, (rs) =>
    replicasOf(rs) >= wantNew ? null : { spec: { replicas: wantNew } },
  );
  return {
    outcome: "deleting",
    uid: facts.uid,
    graceSeconds: pod.metadata?.deletionGracePeriodSeconds ?? facts.terminationGracePeriodSeconds,
    waitedMs: w.now() - started,
  };
}

/**
 * The rollout's maxSurge, at a target's take-out: the Deployment prepared (the same idempotent first write as
 * the first delete's) and the new ReplicaSet raised to the Deployment's replicas minus the old one's, plus
 * `maxSurge`, so the new pods start while the old ones drain and their start overlaps the drain instead of
 * following the retire. Old ReplicaSet replicas + new ones never exceed replicas + maxSurge: the old one only
 * goes down during a rollout (a retire lowers it before it raises the new one), so a count read here can
 * only be too high, never too low. Never above replicas (the rollout's last pods need no more), never
 * lowered (retirePod takes the max too), and the new pods are claimed as without surge: one per target, at
 * its k8s.awaitReplacementReady. Re-run after a crash, it finds its write done.
 */
export async function surgeDeployment(
  w: FleetWorkload,
  version: string,
  maxSurge: number,
): Promise<{ surged: boolean; replicas: number }> {
  await prepareDeployment(w, version);
  const { rec } = await mustRecord(w);
  const old = await readReplicaSet(w, rec.from);
  const want = Math.min(rec.replicas, rec.replicas - replicasOf(old) + Math.max(0, maxSurge));
  const rs = await patchReplicaSet(w, rec.to, (rs) =>
    replicasOf(rs) >= want ? null : { spec: { replicas: want } },
  );
  return { surged: true, replicas: replicasOf(rs) };
}

/** The new pod that stands for the retired pod `name`, if one was claimed. */
export async function replacementPod(w: FleetWorkload, name: string): Promise<V1Pod | undefined> {
  const pods = await listPods(w);
  return pods.find(
    (p) => p.metadata?.annotations?.[REPLACES_ANNOTATION] === name && !p.metadata?.deletionTimestamp,
  );
}

/**
 * k8s.awaitReplacementReady for a Deployment: the new ReplicaSet's pod standing for `name` (claimed here
 * once, by annotation, with a precondition so two targets never claim the same pod) runs the version, has
 * its gate set True once its containers are ready, is Ready and ready in the EndpointSlices. When the last
 * one is, the old ReplicaSet is at 0 and the new one ready at full size: the rollout is finished, the record
 * removed and the Deployment resumed (the controller finds the new ReplicaSet complete: nothing moves).
 */
export async function checkNewPodReady(
  w: FleetWorkload,
  name: string,
  version: string,
): Promise<ReplacementCheck> {
  const d = await w.deployment();
  const rec = rolloutRecord(d);
  let pod = await replacementPod(w, name);
  if (!pod) {
    if (!rec?.to)
      return { ready: false, reason: `no Ebb rollout recorded on Deployment ${w.config.workload.name}` };
    const newRS = await readReplicaSet(w, rec.to);
    const free = (await listPods(w))
      .filter(
        (p) =>
          ownedBy(p, newRS.metadata?.uid) &&
          !p.metadata?.deletionTimestamp &&
          !p.metadata?.annotations?.[REPLACES_ANNOTATION],
      )
      .sort((a, b) => (a.metadata?.name ?? "").localeCompare(b.metadata?.name ?? ""));
    const candidate = free[0];
    if (!candidate)
      return { ready: false, reason: `waiting for ReplicaSet ${rec.to} to create a pod for ${name}` };
    try {
      pod = await w.api(`claim pod ${w.ns}/${candidate.metadata?.name} for ${name}`, () =>
        w.clients.core.patchNamespacedPod(
          {
            name: candidate.metadata?.name ?? "",
            namespace: w.ns,
            body: {
              metadata: {
                resourceVersion: candidate.metadata?.resourceVersion,
                annotations: { [REPLACES_ANNOTATION]: name },
              },
            },
          },
          mergePatch(),
        ),
      );
    } catch (err) {
      if (err instanceof EbbError && (err.code === "conflict" || err.code === "not_found"))
        return { ready: false, reason: `another target claimed ${candidate.metadata?.name}; looking again` };
      throw err;
    }
  }
  const podName = pod.metadata?.name ?? "";
  let facts = podFacts(pod, w.config.gate);
  if (facts.version !== version)
    return {
      ready: false,
      reason: `pod ${podName} runs version ${facts.version}, not ${version}`,
      pod: facts,
    };
  if (facts.hasGate && facts.gate === null && facts.containersReady) {
    facts = (await setReadiness(w, podName, true)).pod;
  }
  if (facts.hasGate && facts.gate !== "True")
    return {
      ready: false,
      reason:
        facts.gate === null
          ? `pod ${podName}: containers not ready yet`
          : `pod ${podName}: gate ${facts.gate}`,
      pod: facts,
    };
  if (!facts.ready) return { ready: false, reason: `pod ${podName} is not Ready yet`, pod: facts };
  const ep = await w.endpoint(podName);
  if (!ep.present || !ep.ready || ep.uid !== facts.uid)
    return {
      ready: false,
      reason: `pod ${podName} is not ready in the EndpointSlices of ${w.config.service} yet`,
      pod: facts,
    };
  if (rec) await finishIfComplete(w, rec);
  return { ready: true, reason: "ready", pod: facts };
}

async function finishIfComplete(w: FleetWorkload, rec: DeploymentRolloutRecord): Promise<void> {
  const [oldRS, newRS] = await Promise.all([readReplicaSet(w, rec.from), readReplicaSet(w, rec.to)]);
  if (replicasOf(oldRS) > 0 || replicasOf(newRS) < rec.replicas) return;
  if ((newRS.status?.readyReplicas ?? 0) < rec.replicas) return;
  const name = w.config.workload.name;
  await w.api(`resume deployment ${w.ns}/${name}`, () =>
    w.clients.apps.patchNamespacedDeployment(
      {
        name,
        namespace: w.ns,
        body: { metadata: { annotations: { [ROLLOUT_ANNOTATION]: null } }, spec: { paused: false } },
      },
      mergePatch(),
    ),
  );
}

/**
 * The last write of an abort: the Deployment back on the old ReplicaSet's template, without the record,
 * unpaused. It reads the Deployment right before it writes: the pass before it scaled ReplicaSets and
 * deleted pods, so the controller has rewritten the Deployment's status since the pass began, and a replace
 * with that first read's resourceVersion would conflict, pass after pass, for as long as pods move. True
 * once written (or once the record is gone: another target's abort finished it).
 */
async function resumeOnOldTemplate(
  w: FleetWorkload,
  rec: DeploymentRolloutRecord,
  oldRS: V1ReplicaSet,
): Promise<boolean> {
  const template = structuredClone(oldRS.spec?.template ?? {}) as V1PodTemplateSpec;
  if (template.metadata?.labels) delete template.metadata.labels[POD_TEMPLATE_HASH];
  const dn = w.config.workload.name;
  for (let attempt = 0; attempt < 5; attempt++) {
    const d = await w.deployment();
    if (rolloutRecord(d)?.from !== rec.from) return true;
    const annotations = { ...d.metadata?.annotations };
    delete annotations[ROLLOUT_ANNOTATION];
    try {
      await w.api(`resume deployment ${w.ns}/${dn} on ${rec.from}`, () =>
        w.clients.apps.replaceNamespacedDeployment({
          name: dn,
          namespace: w.ns,
          body: {
            ...d,
            metadata: { ...d.metadata, annotations },
            spec: { ...d.spec!, paused: false, template },
          },
        }),
      );
      return true;
    } catch (err) {
      if (!(err instanceof EbbError && err.code === "conflict")) throw err;
    }
  }
  return false;
}

/**
 * An aborted Deployment rollout, scaled back to the old ReplicaSet (blocking, bounded by `timeoutMs`):
 * 1. old pods still there are unmarked (no deletion cost, off the retired list) and put back (gate True);
 * 2. the old ReplicaSet gets its start replicas again (its controller re-creates the retired pods, at the
 *    old version), and Ebb waits until all of them are Ready and ready in the EndpointSlices;
 * 3. the new ReplicaSet's pods are drained (gate False, out of the slices, the propagation window) and it is
 *    scaled to 0 (they stop with their own preStop and grace);
 * 4. the Deployment's template is set back to the old ReplicaSet's, the record removed, and it is resumed:
 *    the controller finds the old ReplicaSet as the current one, and nothing rolls.
 * What it leaves: the Deployment on the old template, unpaused; the old ReplicaSet at full size; the new
 * ReplicaSet at 0 (history, as after any rollout); the target pods Ebb retired are gone (others run in
 * their place at the old version).
 */
export async function abortDeployment(
  w: FleetWorkload,
  name: string,
  opts: WaitOptions,
): Promise<PodFacts | null> {
  return waitUntil<PodFacts | null>(
    w,
    `Deployment ${w.config.workload.name} back on its old ReplicaSet`,
    opts.timeoutMs,
    async () => {
      const rec = rolloutRecord(await w.deployment());
      const poll = w.config.pollIntervalMs;
      if (!rec) {
        // Nothing Ebb holds (finished, never prepared, or another target's restore already finished it): the pod
        // itself, if it is still there, back in service.
        const pod = await w.readPod(name);
        if (!pod || pod.metadata?.deletionTimestamp) return { done: null };
        const facts = podFacts(pod, w.config.gate);
        if (facts.hasGate ? facts.gate === "False" : await w.isOutOfService(facts))
          return { done: (await setReadiness(w, name, true)).pod };
        return { done: facts };
      }
      const oldRS = await readReplicaSet(w, rec.from);
      const newRS = rec.to ? await readReplicaSet(w, rec.to) : undefined;
      const pods = await listPods(w);
      const oldPods = pods.filter((p) => ownedBy(p, oldRS.metadata?.uid) && !p.metadata?.deletionTimestamp);
      for (const p of oldPods) {
        const pn = p.metadata?.name ?? "";
        if (p.metadata?.annotations?.[DELETION_COST_ANNOTATION] === RETIRED_COST) {
          await w.api(`unmark pod ${w.ns}/${pn}`, () =>
            w.clients.core.patchNamespacedPod(
              {
                name: pn,
                namespace: w.ns,
                body: {
                  metadata: { annotations: { [DELETION_COST_ANNOTATION]: null, [RETIRED_ANNOTATION]: null } },
                },
              },
              mergePatch(),
            ),
          );
        }
        const f = podFacts(p, w.config.gate);
        if (f.hasGate && (f.gate === "False" || (f.gate === null && f.containersReady)))
          await setReadiness(w, pn, true);
      }
      await patchReplicaSet(w, rec.from, (rs) =>
        replicasOf(rs) === rec.replicas && retiredOf(rs).length === 0
          ? null
          : { metadata: { annotations: { [RETIRED_ANNOTATION]: null } }, spec: { replicas: rec.replicas } },
      );
      const slices = await w.slices();
      const readyOld = oldPods.filter((p) => {
        const f = podFacts(p, w.config.gate);
        return (
          f.ready &&
          slices.some((s) =>
            (s.endpoints ?? []).some((e) => e.targetRef?.uid === f.uid && e.conditions?.ready !== false),
          )
        );
      });
      if (readyOld.length < rec.replicas)
        return {
          retryInMs: poll,
          why: `${readyOld.length}/${rec.replicas} pods of ${rec.from} ready in the EndpointSlices`,
        };
      if (newRS && replicasOf(newRS) > 0) {
        const newPods = pods.filter((p) => ownedBy(p, newRS.metadata?.uid) && !p.metadata?.deletionTimestamp);
        let pending = 0;
        for (const p of newPods) {
          const pn = p.metadata?.name ?? "";
          const f = podFacts(p, w.config.gate);
          if (f.hasGate && f.gate !== "False") await setReadiness(w, pn, false);
          if (!(await checkEndpointRemoved(w, pn)).propagated) pending++;
        }
        if (pending > 0) return { retryInMs: poll, why: `${pending} new pods still draining` };
        await patchReplicaSet(w, rec.to, (rs) => (replicasOf(rs) === 0 ? null : { spec: { replicas: 0 } }));
      }
      if (!(await resumeOnOldTemplate(w, rec, oldRS)))
        return { retryInMs: poll, why: "the Deployment kept changing under the resume; again" };
      return { done: podFacts(readyOld[0]!, w.config.gate) };
    },
  );
}
