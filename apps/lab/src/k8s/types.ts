/**
 * The emulator keeps objects as the JSON the wire carries (what kubectl and client-node send), typed only
 * as far as the emulator reads them. Unknown fields are kept and echoed back, as the real API server does
 * for the fields it knows.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  [key: string]: unknown;
}

export interface KObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface PodCondition {
  type: string;
  status: "True" | "False" | "Unknown";
  lastProbeTime?: string | null;
  lastTransitionTime?: string;
  reason?: string;
  message?: string;
}

export interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol?: string;
}

export interface HttpGetAction {
  path?: string;
  port: number | string;
}

export interface Probe {
  httpGet?: HttpGetAction;
  tcpSocket?: { port: number | string };
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  successThreshold?: number;
  failureThreshold?: number;
}

export interface LifecycleHandler {
  sleep?: { seconds: number };
  exec?: { command?: string[] };
  httpGet?: HttpGetAction & { host?: string; scheme?: string };
}

export interface EnvVar {
  name: string;
  value?: string;
  /** The downward API: `fieldRef.fieldPath` metadata.name, metadata.namespace, metadata.uid, status.podIP. */
  valueFrom?: { fieldRef?: { fieldPath: string } };
}

export interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  ports?: ContainerPort[];
  readinessProbe?: Probe;
  lifecycle?: { preStop?: LifecycleHandler };
  /** On an init container, "Always" makes it a native sidecar (Kubernetes 1.29+). */
  restartPolicy?: string;
}

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  readinessGates?: { conditionType: string }[];
  terminationGracePeriodSeconds?: number;
  nodeName?: string;
  hostname?: string;
  subdomain?: string;
  restartPolicy?: string;
}

export interface PodStatus {
  phase?: string;
  conditions?: PodCondition[];
  podIP?: string;
  podIPs?: { ip: string }[];
  hostIP?: string;
  startTime?: string;
  containerStatuses?: Record<string, unknown>[];
}

export interface Pod extends KObject {
  spec: PodSpec & Record<string, unknown>;
  status?: PodStatus & Record<string, unknown>;
}

export interface ServicePort {
  name?: string;
  protocol?: string;
  port: number;
  targetPort?: number | string;
}

export interface Service extends KObject {
  spec: { selector?: Record<string, string>; ports?: ServicePort[]; clusterIP?: string; type?: string };
}

export interface EndpointConditions {
  ready: boolean;
  serving: boolean;
  terminating: boolean;
}

export interface Endpoint {
  addresses: string[];
  conditions: EndpointConditions;
  targetRef?: { kind: string; namespace: string; name: string; uid: string };
  nodeName?: string;
}

export interface EndpointSlice extends KObject {
  addressType: string;
  endpoints: Endpoint[] | null;
  ports: { name?: string; protocol?: string; port: number }[] | null;
}

export interface LabelSelectorSpec {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

export interface StatefulSetSpec {
  replicas?: number;
  selector: LabelSelectorSpec;
  serviceName?: string;
  podManagementPolicy?: "OrderedReady" | "Parallel";
  updateStrategy?: { type?: "OnDelete" | "RollingUpdate"; rollingUpdate?: { partition?: number } };
  template: { metadata?: ObjectMeta; spec: PodSpec & Record<string, unknown> };
}

export interface StatefulSet extends KObject {
  spec: StatefulSetSpec & Record<string, unknown>;
}

export interface PodTemplate {
  metadata?: ObjectMeta;
  spec: PodSpec & Record<string, unknown>;
}

export interface DeploymentSpec {
  replicas?: number;
  selector: LabelSelectorSpec;
  template: PodTemplate;
  strategy?: {
    type?: "RollingUpdate" | "Recreate";
    rollingUpdate?: { maxSurge?: number | string; maxUnavailable?: number | string };
  };
  paused?: boolean;
  minReadySeconds?: number;
  revisionHistoryLimit?: number;
  progressDeadlineSeconds?: number;
}

export interface Deployment extends KObject {
  spec: DeploymentSpec & Record<string, unknown>;
}

export interface ReplicaSetSpec {
  replicas?: number;
  selector: LabelSelectorSpec;
  template: PodTemplate;
  minReadySeconds?: number;
}

export interface ReplicaSet extends KObject {
  spec: ReplicaSetSpec & Record<string, unknown>;
}

/** The lab cluster's one node. */
export const NODE_NAME = "lab-node";

/** Annotation a pod template carries its application version in (the lab VM release it runs). */
export const VERSION_ANNOTATION = "ebb.dev/version";
/** Annotation that pins a pod to a loopback address; the StatefulSet controller sets it from its ordinal. */
export const POD_IP_ANNOTATION = "lab.ebb.dev/pod-ip";
/** Annotation: the addresses a pod may get, `127.0.0.41-127.0.0.52` (a Deployment's pods have no fixed one). */
export const POD_IP_RANGE_ANNOTATION = "lab.ebb.dev/pod-ip-range";
/** Annotation: "true" makes the pod's web server ignore SIGTERM (a target that hangs on stop). */
export const HANG_ON_STOP_ANNOTATION = "lab.ebb.dev/hang-on-stop";

export function deepClone<T>(value: T): T {
  return structuredClone(value);
}

export function nowIso(): string {
  return new Date().toISOString();
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function objectKey(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

export function conditionOf(pod: Pod, type: string): PodCondition | undefined {
  return pod.status?.conditions?.find((c) => c.type === type);
}

export function isPodReady(pod: Pod): boolean {
  return conditionOf(pod, "Ready")?.status === "True";
}

/** Read by Ebb's preflight from the pod template (the names of @ebb/drivers; the lab does not depend on it). */
export const KEEP_ALIVE_ANNOTATION = "ebb.dev/keep-alive-timeout";
export const DRAIN_BUDGET_ANNOTATION = "ebb.dev/drain-budget";
