import { fileURLToPath } from "node:url";
import { nthHost } from "../world.js";
import { EBB_GATE } from "./cluster.js";
import type { LabImage } from "./container-process.js";
import {
  DRAIN_BUDGET_ANNOTATION,
  KEEP_ALIVE_ANNOTATION,
  POD_IP_RANGE_ANNOTATION,
  VERSION_ANNOTATION,
} from "./types.js";

/** The drain hook's image name; the lab's kubelet runs it as `node packages/drain-hook/bin/ebb-drain-hook.js`. */
export const DRAIN_HOOK_IMAGE = "ebb/drain-hook";
export const DRAIN_HOOK_PORT = 8099;
/** The ServiceAccount, Role and RoleBinding the hook reads EndpointSlices with. */
export const DRAIN_HOOK_ACCOUNT = "ebb-drain-hook";

/** The same file from src (tests) and dist (npm start): both sit two levels under apps/lab. */
export function drainHookImage(): LabImage {
  const bin = fileURLToPath(
    new URL("../../../../packages/drain-hook/bin/ebb-drain-hook.js", import.meta.url),
  );
  return { command: [process.execPath, bin] };
}

export interface DemoDeploymentSpec {
  namespace: string;
  name: string;
  replicas: number;
  port: number;
  version: string;
  /** Pods take addresses from here (replicas + surge room). */
  firstHost: string;
  timeScale: number;
  terminationGracePeriodSeconds: number;
  /** The native sidecar and `preStop: httpGet` to it; without it, `preStop: sleep preStopSeconds` (0: none). */
  drainHook: boolean;
  preStopSeconds: number;
  /** The hook's propagation window and hold time, real ms (the proxies' lag is not time-scaled). */
  propagationWindowMs: number;
  holdMs: number;
  /** What the app needs after SIGTERM, in the cluster's seconds. */
  shutdownBudgetSeconds: number;
  maxSurge: number | string;
  maxUnavailable: number | string;
  /** Ebb's readiness gate in the template (so Ebb can take a pod out without stopping it); default true. */
  readinessGate?: boolean;
  /** Where the hook reports, when Ebb runs. */
  ebb?: { url: string; fleet: string; tokenFile: string };
}

const field = (name: string, fieldPath: string) => ({ name, valueFrom: { fieldRef: { fieldPath } } });

/**
 * The `lab-deploy` workload: a Deployment of lab web servers, each pod with the drain hook as a native
 * sidecar answering the app's `preStop: httpGet` (the pod spec docs/drain-hook.md shows). The hook is told
 * the grace period and budget in real time (scaled): the lab's kubelet scales every pod duration.
 */
export function demoDeployment(o: DemoDeploymentSpec): Record<string, unknown> {
  const scaled = (seconds: number) => `${Math.round(seconds * 1000 * o.timeScale)}ms`;
  const hook = {
    name: "drain-hook",
    image: `${DRAIN_HOOK_IMAGE}:0.1.0`,
    restartPolicy: "Always",
    ports: [{ name: "drain-hook", containerPort: DRAIN_HOOK_PORT }],
    env: [
      field("POD_NAME", "metadata.name"),
      field("POD_NAMESPACE", "metadata.namespace"),
      field("POD_IP", "status.podIP"),
      field("HOST_IP", "status.hostIP"),
      // Lab pods share one network namespace: the hook listens on the pod's own address.
      field("DRAIN_HOOK_HOST", "status.podIP"),
      { name: "DRAIN_HOOK_PORT", value: String(DRAIN_HOOK_PORT) },
      { name: "DRAIN_HOOK_APP_PORT", value: String(o.port) },
      { name: "DRAIN_HOOK_PROPAGATION", value: `${o.propagationWindowMs}ms` },
      { name: "DRAIN_HOOK_HOLD", value: `${o.holdMs}ms` },
      { name: "DRAIN_HOOK_GRACE", value: scaled(o.terminationGracePeriodSeconds) },
      { name: "DRAIN_HOOK_SHUTDOWN_BUDGET", value: scaled(o.shutdownBudgetSeconds) },
      { name: "DRAIN_HOOK_POLL", value: "50ms" },
      ...(o.ebb
        ? [
            { name: "EBB_URL", value: o.ebb.url },
            { name: "EBB_FLEET", value: o.ebb.fleet },
            { name: "EBB_TOKEN_FILE", value: o.ebb.tokenFile },
          ]
        : []),
    ],
  };
  const preStop = o.drainHook
    ? { httpGet: { path: "/drain", port: DRAIN_HOOK_PORT } }
    : o.preStopSeconds > 0
      ? { sleep: { seconds: o.preStopSeconds } }
      : undefined;
  const last = nthHost(o.firstHost, o.replicas + 8);
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: o.name, namespace: o.namespace, labels: { app: o.name } },
    spec: {
      replicas: o.replicas,
      selector: { matchLabels: { app: o.name } },
      strategy: {
        type: "RollingUpdate",
        rollingUpdate: { maxSurge: o.maxSurge, maxUnavailable: o.maxUnavailable },
      },
      template: {
        metadata: {
          labels: { app: o.name },
          annotations: {
            [VERSION_ANNOTATION]: o.version,
            [POD_IP_RANGE_ANNOTATION]: `${o.firstHost}-${last}`,
            [KEEP_ALIVE_ANNOTATION]: "75s",
            [DRAIN_BUDGET_ANNOTATION]: `${o.shutdownBudgetSeconds}s`,
          },
        },
        spec: {
          ...(o.readinessGate === false ? {} : { readinessGates: [{ conditionType: EBB_GATE }] }),
          terminationGracePeriodSeconds: o.terminationGracePeriodSeconds,
          ...(o.drainHook ? { serviceAccountName: DRAIN_HOOK_ACCOUNT, initContainers: [hook] } : {}),
          containers: [
            {
              name: "web",
              image: `lab/web:${o.version}`,
              ports: [{ name: "http", containerPort: o.port }],
              readinessProbe: {
                httpGet: { path: "/health_check.html", port: "http" },
                periodSeconds: 10,
                failureThreshold: 3,
              },
              ...(preStop ? { lifecycle: { preStop } } : {}),
            },
          ],
        },
      },
    },
  };
}

/** What the hook needs to read EndpointSlices in its namespace, and nothing else. */
export function drainHookRbac(namespace: string): { kind: string; body: Record<string, unknown> }[] {
  return [
    { kind: "ServiceAccount", body: { metadata: { name: DRAIN_HOOK_ACCOUNT, namespace } } },
    {
      kind: "Role",
      body: {
        metadata: { name: DRAIN_HOOK_ACCOUNT, namespace },
        rules: [
          { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["get", "list", "watch"] },
        ],
      },
    },
    {
      kind: "RoleBinding",
      body: {
        metadata: { name: DRAIN_HOOK_ACCOUNT, namespace },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: DRAIN_HOOK_ACCOUNT },
        subjects: [{ kind: "ServiceAccount", name: DRAIN_HOOK_ACCOUNT, namespace }],
      },
    },
  ];
}
