import { EbbError } from "@ebb/core";
import { z } from "zod";

/** The readiness gate Ebb owns on pods, and the Service-selector label it flips for pods without the gate. */
export const EBB_GATE = "ebb.dev/serving";
/** Where a pod template carries the application version (what Ebb patches on the workload). */
export const VERSION_ANNOTATION = "ebb.dev/version";
/** Set on a pod when Ebb flips its selector label: when it left the Service (a label has no timestamp). */
export const OUT_OF_SERVICE_SINCE_ANNOTATION = "ebb.dev/out-of-service-since";
/** On the pod template, for preflight: the app's HTTP keep-alive (idle connection) timeout, e.g. "75s". */
export const KEEP_ALIVE_ANNOTATION = "ebb.dev/keep-alive-timeout";
/** On the pod template, for preflight: how long the app's graceful stop may need after SIGTERM, e.g. "10s". */
export const DRAIN_BUDGET_ANNOTATION = "ebb.dev/drain-budget";

const metricsSchema = z.discriminatedUnion("source", [
  z.strictObject({
    /** An Envoy sidecar's admin stats (GET /stats?format=json), e.g. Istio's on port 15000. */
    source: z.literal("envoy"),
    port: z.int().min(1).max(65535).default(15_000),
    /** The HTTP connection manager's stat prefix, e.g. `inbound_0.0.0.0_8080`; default: every `http.inbound*`. */
    statPrefix: z.string().min(1).optional(),
  }),
  z.strictObject({
    /** The lab VM's own `GET /status` (connections, in-flight requests). */
    source: z.literal("lab-vm"),
    /** Default: the pod's containerPort. */
    port: z.int().min(1).max(65535).optional(),
    path: z.string().startsWith("/").default("/status"),
  }),
]);

export const kubernetesConfigSchema = z
  .strictObject({
    /** A kubeconfig file; without it and without inCluster, the default loading rules (KUBECONFIG, ~/.kube/config). */
    kubeconfigPath: z.string().min(1).optional(),
    /** A context of the kubeconfig; default: its current-context. */
    context: z.string().min(1).optional(),
    /** Use the pod's service account (KUBERNETES_SERVICE_HOST, the mounted token and CA). */
    inCluster: z.boolean().optional(),
    namespace: z.string().min(1),
    /** The Prometheus that scrapes the targets, for analysis steps with `source: prometheus`. */
    prometheusUrl: z.url().optional(),
    workload: z.strictObject({
      kind: z.enum(["StatefulSet", "Deployment"]),
      name: z.string().min(1),
    }),
    /** The Service in front of the workload: its EndpointSlices are what the proxies follow. */
    service: z.string().min(1),
    /** Where clients reach the Service (a LoadBalancer or Ingress URL), for http.check `via: vip`. */
    vipUrl: z.url().optional(),
    /**
     * Idle timeout of a proxy that pools connections to the pods (ingress controller upstream keep-alive,
     * a mesh sidecar's upstream idle timeout), for preflight: a pod's keep-alive must exceed it.
     */
    frontProxyIdleTimeoutMs: z.int().positive().optional(),
    /**
     * How long proxies (kube-proxy, ingress controllers, mesh sidecars) may lag behind an EndpointSlice
     * change: a removed endpoint counts as gone from traffic only this long after its removal.
     */
    propagationWindowMs: z.int().nonnegative(),
    /**
     * How many pods the fleet can lose at once (a count, or a share of the replicas such as "25%"), for
     * `ebb lint`'s HPA and PodDisruptionBudget checks; default: the workload's own rolling-update maxUnavailable.
     */
    maxUnavailable: z
      .union([
        z.int().min(1),
        z.string().regex(/^\d+(\.\d+)?%$/, 'must be a count (2) or a percentage ("25%")'),
      ])
      .optional(),
    /** The readiness-gate condition type (and fallback selector label); default ebb.dev/serving. */
    gate: z.string().min(1).default(EBB_GATE),
    /** Where per-pod traffic comes from; without it, traffic samples report no sessions. */
    metrics: metricsSchema.optional(),
    /** The container whose image tag follows the version (besides the ebb.dev/version annotation). */
    versionContainer: z.string().min(1).optional(),
    /** Pod durations of the lab emulator are scaled by this; 1 for a real cluster. */
    timeScale: z.number().positive().max(1).default(1),
    /** Per API request. */
    requestTimeoutMs: z.int().positive().default(10_000),
    /** How often blocking waits re-read the cluster between watch events. */
    pollIntervalMs: z.int().positive().default(200),
  })
  .refine((c) => !(c.inCluster && c.kubeconfigPath), {
    path: ["inCluster"],
    message: "inCluster and kubeconfigPath exclude each other",
  });

export type KubernetesConfigInput = z.input<typeof kubernetesConfigSchema>;
export type KubernetesConfig = z.output<typeof kubernetesConfigSchema>;
export type MetricsConfig = z.output<typeof metricsSchema>;

/** Validates a fleet's (stored, untrusted) Kubernetes balancer config; errors name the field. */
export function parseKubernetesConfig(value: unknown): KubernetesConfig {
  const parsed = kubernetesConfigSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  const details = parsed.error.issues.map((issue) => {
    const path = issue.code === "unrecognized_keys" ? [...issue.path, issue.keys.join(",")] : issue.path;
    return { field: ["balancerConfig", ...path.map(String)].join("."), message: issue.message };
  });
  throw new EbbError(
    "param_invalid",
    `invalid kubernetes balancer config: ${details.map((d) => `${d.field}: ${d.message}`).join("; ")}`,
    { details },
  );
}
