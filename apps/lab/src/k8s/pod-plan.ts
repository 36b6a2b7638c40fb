import {
  type Container,
  HANG_ON_STOP_ANNOTATION,
  type LifecycleHandler,
  type Pod,
  type Probe,
  VERSION_ANNOTATION,
} from "./types.js";

/** Istio's injection annotation: "false" keeps the sidecar out of one pod when the cluster injects it. */
export const SIDECAR_INJECT_ANNOTATION = "sidecar.istio.io/inject";
/** Set on pods that got the sidecar, as Istio's injector does. */
export const SIDECAR_STATUS_ANNOTATION = "sidecar.istio.io/status";
export const SIDECAR_CONTAINER = "istio-proxy";

export interface ProbePlan {
  path: string;
  /** The port number inside the pod (before the sidecar's rewrite). */
  port: number;
  initialDelayMs: number;
  periodMs: number;
  timeoutMs: number;
  successThreshold: number;
  failureThreshold: number;
}

/** What the pod runtime needs from a pod spec, with durations already scaled to real milliseconds. */
export interface PodPlan {
  container: Container;
  /** The application's declared port (the first containerPort, default 8080). */
  port: number;
  version: string;
  probe: ProbePlan | null;
  preStopMs: number;
  /** A `preStop.httpGet` hook: the kubelet's GET to the pod (port resolved), awaited up to the grace deadline. */
  preStopHttp: { port: number; path: string } | null;
  /** Native sidecars: init containers with `restartPolicy: Always`, started before the app, stopped after. */
  sidecars: Container[];
  graceMs: number;
  hangOnStop: boolean;
  sidecar: boolean;
}

const VERSION_RE = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/;

/** The app's version: the `ebb.dev/version` annotation, else a VERSION env var, else the image tag. */
export function podVersion(pod: Pod, container: Container): string {
  const fromAnnotation = pod.metadata.annotations?.[VERSION_ANNOTATION];
  if (fromAnnotation) return fromAnnotation;
  const fromEnv = container.env?.find((e) => e.name === "VERSION")?.value;
  if (fromEnv) return fromEnv;
  const image = container.image ?? "";
  const at = image.lastIndexOf(":");
  const tag = at > image.lastIndexOf("/") ? image.slice(at + 1) : "";
  return VERSION_RE.test(tag) && tag !== "latest" ? tag : "1.0.0";
}

/** preStop as seconds of sleep: the native `sleep` action, or an exec of `sleep N` (plain or via sh -c). */
export function preStopSeconds(handler: LifecycleHandler | undefined): number {
  if (!handler) return 0;
  if (handler.sleep) return Math.max(0, Number(handler.sleep.seconds) || 0);
  const cmd = handler.exec?.command ?? [];
  const text = cmd.join(" ");
  const m = /(?:^|\s|;|&&)sleep\s+(\d+(?:\.\d+)?)/.exec(text);
  return m ? Number(m[1]) : 0;
}

function resolvePort(container: Container, port: number | string | undefined, fallback: number): number {
  if (typeof port === "number") return port;
  if (typeof port === "string") {
    const named = container.ports?.find((p) => p.name === port)?.containerPort;
    if (named !== undefined) return named;
    const n = Number(port);
    if (Number.isInteger(n)) return n;
  }
  return fallback;
}

function probePlan(
  container: Container,
  probe: Probe | undefined,
  port: number,
  scale: number,
): ProbePlan | null {
  if (!probe) return null;
  const ms = (s: number | undefined, d: number) => Math.round((s ?? d) * 1000 * scale);
  return {
    path: probe.httpGet?.path ?? "/",
    port: resolvePort(container, probe.httpGet?.port ?? probe.tcpSocket?.port, port),
    initialDelayMs: ms(probe.initialDelaySeconds, 0),
    periodMs: Math.max(20, ms(probe.periodSeconds, 10)),
    timeoutMs: Math.max(50, ms(probe.timeoutSeconds, 1)),
    successThreshold: probe.successThreshold ?? 1,
    failureThreshold: probe.failureThreshold ?? 3,
  };
}

/** The application container: the first one that is not the injected sidecar. */
export function appContainer(pod: Pod): Container {
  const c = pod.spec.containers.find((x) => x.name !== SIDECAR_CONTAINER) ?? pod.spec.containers[0];
  if (!c) throw new Error(`pod ${pod.metadata.name}: no containers`);
  return c;
}

export function planPod(pod: Pod, timeScale: number): PodPlan {
  const container = appContainer(pod);
  const port = container.ports?.[0]?.containerPort ?? 8080;
  const graceSeconds =
    pod.metadata.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30;
  return {
    container,
    port,
    version: podVersion(pod, container),
    probe: probePlan(container, container.readinessProbe, port, timeScale),
    preStopMs: Math.round(preStopSeconds(container.lifecycle?.preStop) * 1000 * timeScale),
    preStopHttp: container.lifecycle?.preStop?.httpGet
      ? {
          port: resolvePort(container, container.lifecycle.preStop.httpGet.port, port),
          path: container.lifecycle.preStop.httpGet.path ?? "/",
        }
      : null,
    sidecars: (pod.spec.initContainers ?? []).filter((c) => c.restartPolicy === "Always"),
    graceMs: Math.round(graceSeconds * 1000 * timeScale),
    hangOnStop: pod.metadata.annotations?.[HANG_ON_STOP_ANNOTATION] === "true",
    sidecar: pod.spec.containers.some((c) => c.name === SIDECAR_CONTAINER),
  };
}
