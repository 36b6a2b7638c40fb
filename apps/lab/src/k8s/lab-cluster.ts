import path from "node:path";
import { nthHost } from "../world.js";
import { type Cluster, DEFAULT_SIDECAR, EBB_GATE, startCluster } from "./cluster.js";
import { writeKubeconfig } from "./kubeconfig.js";
import { DRAIN_HOOK_IMAGE, demoDeployment, drainHookImage, drainHookRbac } from "./lab-deploy.js";
import {
  DEPLOYMENTS,
  PODS,
  ROLEBINDINGS,
  ROLES,
  SERVICEACCOUNTS,
  SERVICES,
  STATEFULSETS,
} from "./resources.js";
import type { ServiceProxy } from "./service-proxy.js";
import {
  DRAIN_BUDGET_ANNOTATION,
  isPodReady,
  KEEP_ALIVE_ANNOTATION,
  type Pod,
  VERSION_ANNOTATION,
} from "./types.js";

export { DRAIN_BUDGET_ANNOTATION, KEEP_ALIVE_ANNOTATION };

export interface LabClusterOptions {
  labDir: string;
  /** Default 127.0.0.1:6443. */
  api?: { host: string; port: number };
  /** The Service's proxy; default 127.0.0.1:8090. */
  proxy?: { host: string; port: number };
  /** Pod addresses count up from here; default 127.0.0.21. */
  podFirstHost?: string;
  /** Default 4. */
  replicas?: number;
  /** The pods' containerPort; default 8080. */
  podPort?: number;
  /** Default "lab". */
  namespace?: string;
  /** StatefulSet and Service name; default "web". */
  name?: string;
  /** Default "1.0.0". */
  version?: string;
  /** Default 0.1 (probe every 1 s, preStop 0.5 s, grace 3 s). */
  timeScale?: number;
  /** kube-proxy's lag in real milliseconds; default 2000. */
  propagationDelayMs?: number;
  /** Envoy-like sidecars in every pod; default false. */
  sidecar?: boolean;
  /** The template's preStop sleep (vendor seconds); default 5. */
  preStopSeconds?: number;
  /** Default 30. */
  terminationGracePeriodSeconds?: number;
  /** The template carries Ebb's readiness gate; default true. Without it, Ebb flips the selector label. */
  readinessGate?: boolean;
  /** Set the gate True on new pods (the gate's controller); default true. */
  gateController?: boolean;
  /** Where the kubeconfig is written; default `<labDir>/kubeconfig`. */
  kubeconfigPath?: string;
  token?: string;
  /** The `lab-deploy` workload next to the StatefulSet: a Deployment behind its own proxy. */
  deployment?: LabDeploymentOptions;
  log?: (line: string) => void;
}

export interface LabDeploymentOptions {
  /** Deployment and Service name; default "web-deploy". */
  name?: string;
  /** Its Service's proxy; default 127.0.0.1:8091. */
  proxy?: { host: string; port: number };
  /** Pod addresses count up from here; default 127.0.0.41. */
  podFirstHost?: string;
  /** Default 4. */
  replicas?: number;
  /** The drain hook as native sidecar (default true); false: `preStop: sleep preStopSeconds`. */
  drainHook?: boolean;
  /** Without the hook; default 0 (no preStop). */
  preStopSeconds?: number;
  /** Default 60 (the hook's hold must fit in it at the lab's time scale). */
  terminationGracePeriodSeconds?: number;
  /** The hook's window; default the proxy's lag + 200 ms. */
  propagationWindowMs?: number;
  /** The hook's hold time; default 300 ms. */
  holdMs?: number;
  /** Default 10 (cluster seconds). */
  shutdownBudgetSeconds?: number;
  /** Default 1 and 0: one new pod at a time, never fewer ready than replicas. */
  maxSurge?: number | string;
  maxUnavailable?: number | string;
  /** Where the hooks report (Ebb's API origin, the fleet, a file holding a read-scoped token). */
  ebb?: { url: string; fleet: string; tokenFile: string };
}

export interface LabDeployment {
  namespace: string;
  name: string;
  service: string;
  proxyUrl: string;
  proxy: ServiceProxy;
  replicas: number;
  port: number;
  drainHook: boolean;
  propagationDelayMs: number;
  /** The pods right now (names change with every scale-up and restart). */
  pods(): { name: string; host: string; port: number; ready: boolean }[];
}

export interface LabCluster {
  cluster: Cluster;
  apiUrl: string;
  /** The Service's address, e.g. http://127.0.0.1:8090. */
  proxyUrl: string;
  proxy: ServiceProxy;
  kubeconfigPath: string;
  namespace: string;
  workload: { kind: "StatefulSet"; name: string };
  service: string;
  /** The pods as Ebb targets: name, address, port. */
  pods: { name: string; host: string; port: number }[];
  /** The service proxy's lag, real ms. */
  propagationDelayMs: number;
  sidecar: boolean;
  deployment?: LabDeployment;
  stop(): Promise<void>;
}

export function demoStatefulSet(o: {
  namespace: string;
  name: string;
  replicas: number;
  port: number;
  version: string;
  preStopSeconds: number;
  terminationGracePeriodSeconds: number;
  readinessGate: boolean;
  /** The app's keep-alive and drain budget, in the cluster's seconds, for Ebb's preflight. */
  keepAliveSeconds?: number;
  drainBudgetSeconds?: number;
}): Record<string, unknown> {
  return {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: { name: o.name, namespace: o.namespace, labels: { app: o.name } },
    spec: {
      replicas: o.replicas,
      serviceName: o.name,
      podManagementPolicy: "Parallel",
      // Ebb replaces pods itself, one drained pod at a time: the controller must not roll them on its own.
      updateStrategy: { type: "OnDelete" },
      selector: { matchLabels: { app: o.name } },
      template: {
        metadata: {
          labels: { app: o.name, [EBB_GATE]: "true" },
          annotations: {
            [VERSION_ANNOTATION]: o.version,
            ...(o.keepAliveSeconds !== undefined
              ? { [KEEP_ALIVE_ANNOTATION]: `${o.keepAliveSeconds}s` }
              : {}),
            ...(o.drainBudgetSeconds !== undefined
              ? { [DRAIN_BUDGET_ANNOTATION]: `${o.drainBudgetSeconds}s` }
              : {}),
          },
        },
        spec: {
          ...(o.readinessGate ? { readinessGates: [{ conditionType: EBB_GATE }] } : {}),
          terminationGracePeriodSeconds: o.terminationGracePeriodSeconds,
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
              ...(o.preStopSeconds > 0
                ? { lifecycle: { preStop: { sleep: { seconds: o.preStopSeconds } } } }
                : {}),
            },
          ],
        },
      },
    },
  };
}

/**
 * The lab's Kubernetes: the emulated cluster with the demo workload (the `lab-pods` fleet): StatefulSet
 * `web` (OnDelete, Ebb's readiness gate) with 4 pods on 127.0.0.21-24:8080, and Service `web` (selector
 * app=web, ebb.dev/serving=true) behind the service proxy on 127.0.0.1:8090. Resolves once every pod is
 * Ready and in the proxy's view.
 */
export async function startLabCluster(opts: LabClusterOptions): Promise<LabCluster> {
  const namespace = opts.namespace ?? "lab";
  const name = opts.name ?? "web";
  const replicas = opts.replicas ?? 4;
  const port = opts.podPort ?? 8080;
  const first = opts.podFirstHost ?? "127.0.0.21";
  const proxyAt = opts.proxy ?? { host: "127.0.0.1", port: 8090 };
  // Room for more pods than replicas: a scaled-up or bare pod still gets an address.
  const podAddresses = Array.from({ length: replicas + 4 }, (_, i) => nthHost(first, i));
  const dep = opts.deployment;
  const depName = dep?.name ?? "web-deploy";
  const depProxyAt = dep?.proxy ?? { host: "127.0.0.1", port: 8091 };
  const propagationDelayMs = opts.propagationDelayMs ?? 2_000;
  const cluster = await startCluster({
    // Probes and hook calls come from the node's own address, so a pod (the drain hook) can tell them from
    // clients, which come through the proxies.
    nodeAddress: "127.0.0.254",
    images: { [DRAIN_HOOK_IMAGE]: drainHookImage() },
    labDir: opts.labDir,
    api: opts.api ?? { host: "127.0.0.1", port: 6443 },
    timeScale: opts.timeScale ?? 0.1,
    podAddresses,
    sidecar: opts.sidecar ?? false,
    gateController: opts.gateController === false ? false : EBB_GATE,
    namespaces: [namespace],
    proxies: [
      {
        namespace,
        service: name,
        host: proxyAt.host,
        port: proxyAt.port,
        propagationDelayMs,
      },
      ...(dep
        ? [{ namespace, service: depName, host: depProxyAt.host, port: depProxyAt.port, propagationDelayMs }]
        : []),
    ],
    ...(opts.token !== undefined ? { token: opts.token } : {}),
    ...(opts.log ? { log: opts.log } : {}),
  });
  try {
    const { registry } = cluster;
    const proxy = cluster.proxy(namespace, name);
    registry.create(SERVICES, namespace, {
      metadata: { name, namespace, labels: { app: name } },
      spec: {
        selector: { app: name, [EBB_GATE]: "true" },
        ports: [{ name: "http", port: proxy.address.port, targetPort: "http" }],
      },
    });
    registry.create(
      STATEFULSETS,
      namespace,
      demoStatefulSet({
        namespace,
        name,
        replicas,
        port,
        version: opts.version ?? "1.0.0",
        preStopSeconds: opts.preStopSeconds ?? 5,
        terminationGracePeriodSeconds: opts.terminationGracePeriodSeconds ?? 30,
        readinessGate: opts.readinessGate ?? true,
        // The pod's web server: the lab VM's keep-alive (75 s); its drain keeps a client's idle connection
        // open for up to 80 % of what the grace period leaves after preStop (issue 17); a busy one leaves at
        // once with its answer, which is all the stop needs when no client idles.
        keepAliveSeconds: 75,
        drainBudgetSeconds: 10,
      }),
    );
    let deployment: LabDeployment | undefined;
    if (dep) {
      const depProxy = cluster.proxy(namespace, depName);
      const depReplicas = dep.replicas ?? 4;
      const drainHook = dep.drainHook ?? true;
      for (const { kind, body } of drainHookRbac(namespace)) {
        const t = kind === "ServiceAccount" ? SERVICEACCOUNTS : kind === "Role" ? ROLES : ROLEBINDINGS;
        registry.create(t, namespace, body);
      }
      registry.create(SERVICES, namespace, {
        metadata: { name: depName, namespace, labels: { app: depName } },
        spec: {
          selector: { app: depName },
          ports: [{ name: "http", port: depProxy.address.port, targetPort: "http" }],
        },
      });
      registry.create(
        DEPLOYMENTS,
        namespace,
        demoDeployment({
          namespace,
          name: depName,
          replicas: depReplicas,
          port,
          version: opts.version ?? "1.0.0",
          firstHost: dep.podFirstHost ?? "127.0.0.41",
          timeScale: cluster.timeScale,
          terminationGracePeriodSeconds: dep.terminationGracePeriodSeconds ?? 60,
          drainHook,
          preStopSeconds: dep.preStopSeconds ?? 0,
          propagationWindowMs: dep.propagationWindowMs ?? propagationDelayMs + 200,
          holdMs: dep.holdMs ?? 300,
          shutdownBudgetSeconds: dep.shutdownBudgetSeconds ?? 10,
          maxSurge: dep.maxSurge ?? 1,
          maxUnavailable: dep.maxUnavailable ?? 0,
          // Ebb's gate, set True on new pods by the lab's gate controller (when it runs).
          readinessGate: opts.gateController !== false,
          ...(dep.ebb ? { ebb: dep.ebb } : {}),
        }),
      );
      const depPods = () =>
        (registry.store.list(PODS, namespace, (o) => o.metadata.labels?.app === depName) as Pod[])
          .filter((p) => !p.metadata.deletionTimestamp)
          .map((p) => ({
            name: p.metadata.name ?? "",
            host: p.status?.podIP ?? "",
            port,
            ready: isPodReady(p),
          }));
      deployment = {
        namespace,
        name: depName,
        service: depName,
        proxyUrl: `http://${depProxy.address.host}:${depProxy.address.port}`,
        proxy: depProxy,
        replicas: depReplicas,
        port,
        drainHook,
        propagationDelayMs,
        pods: depPods,
      };
    }
    const podNames = Array.from({ length: replicas }, (_, i) => `${name}-${i}`);
    const allReady = () =>
      podNames.every((n) => {
        const p = registry.store.peek(PODS, namespace, n) as Pod | undefined;
        return p !== undefined && isPodReady(p);
      }) &&
      proxy.endpoints().filter((e) => e.conditions.ready).length === replicas &&
      (!deployment ||
        (deployment.pods().filter((p) => p.ready).length === deployment.replicas &&
          deployment.proxy.endpoints().filter((e) => e.conditions.ready).length === deployment.replicas));
    const deadline = Date.now() + 30_000 + (opts.propagationDelayMs ?? 2_000);
    while (!allReady()) {
      if (Date.now() > deadline)
        throw new Error(
          `${replicas} pods of ${namespace}/${name} not ready and in the service proxy within 30 s`,
        );
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const pods = podNames.map((n) => {
      const p = registry.store.peek(PODS, namespace, n) as Pod;
      return { name: n, host: p.status?.podIP ?? "", port };
    });
    const { host: proxyHost, port: proxyPort } = proxy.address;
    const apiUrl = cluster.apiUrl;
    // Absolute: Ebb stores it in the fleet's config, and a worker may run from another directory.
    const kubeconfigPath = await writeKubeconfig(
      path.resolve(opts.kubeconfigPath ?? path.join(opts.labDir, "kubeconfig")),
      {
        server: apiUrl,
        namespace,
        ...(opts.token !== undefined ? { token: opts.token } : {}),
      },
    );
    return {
      cluster,
      apiUrl,
      proxyUrl: `http://${proxyHost}:${proxyPort}`,
      proxy,
      kubeconfigPath,
      namespace,
      workload: { kind: "StatefulSet", name },
      service: name,
      pods,
      propagationDelayMs,
      sidecar: opts.sidecar ?? false,
      ...(deployment ? { deployment } : {}),
      stop: () => cluster.stop(),
    };
  } catch (err) {
    await cluster.stop();
    throw err;
  }
}

/** What Ebb registers for the emulated cluster: the `lab-pods` fleet (balancer `kubernetes`). */
export interface LabPodsFleet {
  name: string;
  balancer: "kubernetes";
  /** A valid @ebb/drivers KubernetesConfig (kept as plain data: the lab does not depend on the drivers). */
  balancerConfig: Record<string, unknown>;
  targets: { name: string; host: string; port: number; facts: Record<string, unknown> }[];
}

/**
 * The `lab-pods` fleet for a running LabCluster. The propagation window is the proxy's lag plus a margin
 * (the window counts from the pod's Ready transition, the proxy's lag from the slice update just after).
 * Traffic comes from the sidecars' Envoy stats in sidecar mode, else from the pods' own /status. The
 * dashboard reads each pod's version from the app's /status, which neither source counts as traffic (in
 * sidecar mode on the app's own port, past the sidecar, as the kubelet's probes go).
 */
export function labPodsFleet(lab: LabCluster, opts: { name?: string } = {}): LabPodsFleet {
  const appPort = (port: number) => (lab.sidecar ? port + DEFAULT_SIDECAR.appPortOffset : port);
  return {
    name: opts.name ?? "lab-pods",
    balancer: "kubernetes",
    balancerConfig: {
      kubeconfigPath: lab.kubeconfigPath,
      namespace: lab.namespace,
      workload: lab.workload,
      service: lab.service,
      vipUrl: lab.proxyUrl,
      propagationWindowMs: lab.propagationDelayMs + 500,
      timeScale: lab.cluster.timeScale,
      metrics: lab.sidecar ? { source: "envoy" } : { source: "lab-vm" },
    },
    targets: lab.pods.map((p) => ({
      name: p.name,
      host: p.host,
      port: p.port,
      facts: { versionUrl: `http://${p.host}:${appPort(p.port)}/status` },
    })),
  };
}
