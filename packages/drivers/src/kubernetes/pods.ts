import { parseDuration } from "@ebb/core";
import type { V1Container, V1EndpointSlice, V1LifecycleHandler, V1Pod } from "@kubernetes/client-node";
import {
  DRAIN_BUDGET_ANNOTATION,
  KEEP_ALIVE_ANNOTATION,
  OUT_OF_SERVICE_SINCE_ANNOTATION,
  VERSION_ANNOTATION,
} from "./config.js";

/** What Ebb knows about one pod of the fleet: the target, and the facts preflight and the steps need. */
export interface PodFacts {
  name: string;
  uid: string;
  /** The pod IP ("" until it has one). */
  host: string;
  /** The application container's first port (default 8080). */
  port: number;
  version: string;
  phase: string;
  /** The pod's Ready condition. */
  ready: boolean;
  /** Its containers are ready (readiness probes pass), whatever the gates say. */
  containersReady: boolean;
  terminating: boolean;
  /** spec.readinessGates lists Ebb's gate. */
  hasGate: boolean;
  /** The gate condition's status; null when the condition does not exist yet. */
  gate: "True" | "False" | "Unknown" | null;
  /** The value of the gate-named label (the selector fallback), if the pod has it. */
  servingLabel: string | undefined;
  terminationGracePeriodSeconds: number;
  preStopSeconds: number;
  /** A mesh sidecar (istio-proxy / envoy container) fronts the application. */
  sidecar: boolean;
  /** controller-revision-hash (StatefulSet) / pod-template-hash (Deployment). */
  revision: string | undefined;
  /** The app's keep-alive timeout in seconds, from the ebb.dev/keep-alive-timeout annotation. */
  keepAliveSeconds: number | undefined;
  /** How long the app's graceful stop may need after SIGTERM, in seconds (ebb.dev/drain-budget). */
  drainBudgetSeconds: number | undefined;
}

/** One pod's endpoint as the EndpointSlices of the Service list it. */
export interface EndpointView {
  pod: string;
  /** The uid of the pod the endpoint points at ("" when the slices do not list it). */
  uid: string;
  /** Listed in a slice of the Service. */
  present: boolean;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
}

const SIDECAR_CONTAINERS = new Set(["istio-proxy", "envoy", "linkerd-proxy"]);
const VERSION_RE = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/;

export function appContainer(pod: V1Pod): V1Container | undefined {
  const containers = pod.spec?.containers ?? [];
  return containers.find((c) => !SIDECAR_CONTAINERS.has(c.name)) ?? containers[0];
}

/** A tag of `repo/name:tag` (not a registry port: `host:5000/name` has no tag). */
export function imageTag(image: string | undefined): string | undefined {
  if (!image) return undefined;
  const at = image.lastIndexOf(":");
  return at > image.lastIndexOf("/") ? image.slice(at + 1) : undefined;
}

export function withImageTag(image: string, tag: string): string {
  const at = image.lastIndexOf(":");
  const repo = at > image.lastIndexOf("/") ? image.slice(0, at) : image;
  return `${repo}:${tag}`;
}

/** The version a pod runs: the ebb.dev/version annotation, else a VERSION env var, else its image tag. */
export function podVersion(pod: V1Pod): string {
  const annotated = pod.metadata?.annotations?.[VERSION_ANNOTATION];
  if (annotated) return annotated;
  const c = appContainer(pod);
  const env = c?.env?.find((e) => e.name === "VERSION")?.value;
  if (env) return env;
  const tag = imageTag(c?.image);
  return tag && VERSION_RE.test(tag) ? tag : "unknown";
}

/** preStop as seconds of sleep: the native sleep action, or `sleep N` in an exec command. */
export function preStopSeconds(handler: V1LifecycleHandler | undefined): number {
  if (!handler) return 0;
  if (handler.sleep) return Math.max(0, Number(handler.sleep.seconds) || 0);
  const text = (handler.exec?.command ?? []).join(" ");
  const m = /(?:^|\s|;|&&)sleep\s+(\d+(?:\.\d+)?)/.exec(text);
  return m ? Number(m[1]) : 0;
}

/** A duration annotation ("75s", "1m30s") in seconds; absent or unreadable: undefined (a fact not known). */
function durationAnnotation(pod: V1Pod, key: string): number | undefined {
  const text = pod.metadata?.annotations?.[key];
  if (!text) return undefined;
  try {
    return parseDuration(text) / 1000;
  } catch {
    return undefined;
  }
}

function condition(pod: V1Pod, type: string) {
  return pod.status?.conditions?.find((c) => c.type === type);
}

export function podFacts(pod: V1Pod, gate: string): PodFacts {
  const c = appContainer(pod);
  const gateCondition = condition(pod, gate);
  const status = gateCondition?.status;
  return {
    name: pod.metadata?.name ?? "",
    uid: pod.metadata?.uid ?? "",
    host: pod.status?.podIP ?? "",
    port: c?.ports?.[0]?.containerPort ?? 8080,
    version: podVersion(pod),
    phase: pod.status?.phase ?? "Unknown",
    ready: condition(pod, "Ready")?.status === "True",
    containersReady: condition(pod, "ContainersReady")?.status === "True",
    terminating: pod.metadata?.deletionTimestamp !== undefined && pod.metadata.deletionTimestamp !== null,
    hasGate: (pod.spec?.readinessGates ?? []).some((g) => g.conditionType === gate),
    gate: status === "True" || status === "False" || status === "Unknown" ? status : null,
    servingLabel: pod.metadata?.labels?.[gate],
    terminationGracePeriodSeconds: pod.spec?.terminationGracePeriodSeconds ?? 30,
    preStopSeconds: preStopSeconds(c?.lifecycle?.preStop),
    sidecar: (pod.spec?.containers ?? []).some((x) => SIDECAR_CONTAINERS.has(x.name)),
    revision:
      pod.metadata?.labels?.["controller-revision-hash"] ?? pod.metadata?.labels?.["pod-template-hash"],
    keepAliveSeconds: durationAnnotation(pod, KEEP_ALIVE_ANNOTATION),
    drainBudgetSeconds: durationAnnotation(pod, DRAIN_BUDGET_ANNOTATION),
  };
}

/** The pod's endpoint in the Service's slices (absent: not selected, or no address yet). */
export function endpointOf(slices: readonly V1EndpointSlice[], pod: string): EndpointView {
  for (const slice of slices) {
    for (const ep of slice.endpoints ?? []) {
      if (ep.targetRef?.kind === "Pod" && ep.targetRef.name === pod) {
        const cond = ep.conditions ?? {};
        // The API's defaults for unset conditions: ready and serving true, terminating false.
        return {
          pod,
          uid: ep.targetRef.uid ?? "",
          present: true,
          ready: cond.ready !== false,
          serving: cond.serving !== false,
          terminating: cond.terminating === true,
        };
      }
    }
  }
  return { pod, uid: "", present: false, ready: false, serving: false, terminating: false };
}

/**
 * metav1.Time has whole seconds on the wire: a time that lands on .000 most likely was truncated, so the
 * real instant may be up to a second later. Waits computed from it round up, never down.
 */
export function conservativeTime(t: Date): number {
  const ms = t.getTime();
  return ms % 1000 === 0 ? ms + 999 : ms;
}

/**
 * When the pod left its Service's endpoints, from the cluster's own records (so a resumed worker computes
 * the same propagation window): the time Ebb's label flip recorded, else the Ready condition's last
 * transition to False. Undefined while the pod is Ready and selected.
 */
export function removedSince(pod: V1Pod): number | undefined {
  const annotated = pod.metadata?.annotations?.[OUT_OF_SERVICE_SINCE_ANNOTATION];
  const fromLabel = annotated ? Date.parse(annotated) : Number.NaN;
  const ready = condition(pod, "Ready");
  const fromReady =
    ready?.status !== "True" && ready?.lastTransitionTime
      ? conservativeTime(new Date(ready.lastTransitionTime))
      : undefined;
  const candidates = [Number.isFinite(fromLabel) ? fromLabel : undefined, fromReady].filter(
    (x): x is number => x !== undefined,
  );
  return candidates.length > 0 ? Math.max(...candidates) : undefined;
}
