import { mkdir } from "node:fs/promises";
import path from "node:path";
import { labVmTimings } from "../world.js";
import { AddressPool } from "./address-pool.js";
import { ApiServer } from "./api-server.js";
import type { LabImage } from "./container-process.js";
import { DeploymentController } from "./deployment-controller.js";
import { EndpointSliceController } from "./endpointslice-controller.js";
import { GateController } from "./gate-controller.js";
import { SIDECAR_CONTAINER, SIDECAR_INJECT_ANNOTATION, SIDECAR_STATUS_ANNOTATION } from "./pod-plan.js";
import { PodRuntime, type SidecarMode } from "./pod-runtime.js";
import { ServiceAccountTokens } from "./rbac.js";
import { Registry } from "./registry.js";
import { ReplicaSetController } from "./replicaset-controller.js";
import { NAMESPACES, NODES } from "./resources.js";
import { ServiceProxy } from "./service-proxy.js";
import { StatefulSetController } from "./statefulset-controller.js";
import { ObjectStore } from "./store.js";
import { NODE_NAME, nowIso, type Pod } from "./types.js";

/** The readiness gate Ebb owns (and the label the Service selector may carry as its fallback). */
export const EBB_GATE = "ebb.dev/serving";

export interface ServiceProxySpec {
  namespace: string;
  service: string;
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** kube-proxy's lag behind EndpointSlice changes, in real milliseconds (not time-scaled). */
  propagationDelayMs: number;
}

export interface ClusterOptions {
  /** Pod web servers live under `<labDir>/k8s`. */
  labDir: string;
  /** API server address; port 0 picks a free one. */
  api: { host: string; port: number };
  /**
   * Require this bearer token on every request (default: no authentication). Only client-node can use it:
   * kubectl sends credentials over TLS only, and the emulator speaks plain HTTP.
   */
  token?: string;
  /** Multiplies pod durations (probe period, preStop, grace period, sidecar drain); default 0.1. */
  timeScale?: number;
  /** Loopback addresses pods get (a pod name keeps its address across incarnations). */
  podAddresses: string[];
  /** Inject an Envoy-like sidecar into every pod (a pod can opt out with sidecar.istio.io/inject: "false"). */
  sidecar?: boolean | Partial<SidecarMode>;
  /** A controller that sets this readiness gate True on new pods once their containers are ready; false: none. */
  gateController?: string | false;
  /** Service proxies (kube-proxy) to run, one per Service; the Service's clusterIP becomes the proxy's host. */
  proxies?: ServiceProxySpec[];
  /** Namespaces to create besides default, kube-system, kube-public, kube-node-lease. */
  namespaces?: string[];
  /** How many events a watch can resume from (older resourceVersions get 410 Expired). */
  historyLimit?: number;
  /** Lab VM settings of pod processes; default: the lab's VM timings for the time scale. */
  vm?: { keepAliveTimeoutMs?: number; drainLingerMs?: number };
  keepPodDirs?: boolean;
  /** Run pods (default true); without, pods stay Pending and a graceful delete never completes. */
  kubelet?: boolean;
  /** The node's address: status.hostIP, and the source of the kubelet's probes and hook calls; default 127.0.0.1. */
  nodeAddress?: string;
  /** Images the kubelet runs as plain processes (native sidecars such as the drain hook), by name without tag. */
  images?: Record<string, LabImage>;
  /** Pod lifecycle lines (started, terminating); with logRequests, one line per API request too. */
  log?: (line: string) => void;
  logRequests?: boolean;
}

export interface Cluster {
  readonly store: ObjectStore;
  readonly registry: Registry;
  readonly api: ApiServer;
  readonly apiUrl: string;
  readonly timeScale: number;
  /** The proxy of a Service, by `namespace/name`. */
  proxy(namespace: string, service: string): ServiceProxy;
  stop(): Promise<void>;
}

/** Istio's numbers: admin on 15000, a 5 s drain; the app moves 10000 ports up, behind the sidecar. */
export const DEFAULT_SIDECAR: Readonly<SidecarMode> = {
  appPortOffset: 10_000,
  adminPort: 15_000,
  drainSeconds: 5,
};

function seed(registry: Registry, namespaces: readonly string[], nodeAddress: string): void {
  for (const name of ["default", "kube-system", "kube-public", "kube-node-lease", ...namespaces]) {
    if (!registry.store.peek(NAMESPACES, undefined, name))
      registry.create(NAMESPACES, undefined, { metadata: { name } });
  }
  registry.create(NODES, undefined, {
    metadata: {
      name: NODE_NAME,
      labels: { "kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux" },
    },
    spec: {},
    status: {
      conditions: [{ type: "Ready", status: "True", reason: "KubeletReady", lastTransitionTime: nowIso() }],
      addresses: [{ type: "InternalIP", address: nodeAddress }],
      nodeInfo: { kubeletVersion: "v1.32.0-ebb-lab", operatingSystem: "linux", architecture: "amd64" },
    },
  });
}

/** Istio's sidecar injector (a mutating admission webhook), for clusters in sidecar mode. */
function injectSidecar(pod: Pod): void {
  if (pod.metadata.annotations?.[SIDECAR_INJECT_ANNOTATION] === "false") return;
  if (pod.spec.containers.some((c) => c.name === SIDECAR_CONTAINER)) return;
  pod.spec.containers.push({
    name: SIDECAR_CONTAINER,
    image: "lab/envoy:1.0.0",
    ports: [{ name: "http-envoy-prom", containerPort: 15_090, protocol: "TCP" }],
  });
  pod.metadata.annotations = {
    ...pod.metadata.annotations,
    [SIDECAR_STATUS_ANNOTATION]: JSON.stringify({ containers: [SIDECAR_CONTAINER] }),
  };
}

/**
 * The emulated cluster: the API server and its store, the kubelet (pods as lab VM processes), the
 * EndpointSlice and StatefulSet controllers, optionally the gate controller, and kube-proxy per Service.
 */
export async function startCluster(opts: ClusterOptions): Promise<Cluster> {
  const log = opts.log ?? (() => {});
  const timeScale = opts.timeScale ?? 0.1;
  const sidecar: SidecarMode | null = opts.sidecar
    ? { ...DEFAULT_SIDECAR, ...(typeof opts.sidecar === "object" ? opts.sidecar : {}) }
    : null;
  const proxySpecs = opts.proxies ?? [];
  const store = new ObjectStore(opts.historyLimit !== undefined ? { historyLimit: opts.historyLimit } : {});
  const registry = new Registry(store, {
    serviceAddress: (ns, name) => proxySpecs.find((p) => p.namespace === ns && p.service === name)?.host,
    ...(sidecar ? { admitPod: injectSidecar } : {}),
  });
  seed(registry, opts.namespaces ?? [], opts.nodeAddress ?? "127.0.0.1");
  const dir = path.join(path.resolve(opts.labDir), "k8s");
  await mkdir(dir, { recursive: true });

  const vmDefaults = labVmTimings(timeScale);
  const serviceAccounts = new ServiceAccountTokens();
  let api: ApiServer | undefined;
  const runtime = new PodRuntime({
    registry,
    dir,
    timeScale,
    addresses: new AddressPool(opts.podAddresses),
    sidecar,
    vm: {
      keepAliveTimeoutMs: opts.vm?.keepAliveTimeoutMs ?? vmDefaults.keepAliveTimeoutMs ?? 75_000,
      drainLingerMs: opts.vm?.drainLingerMs ?? vmDefaults.drainLingerMs ?? 500,
    },
    ...(opts.keepPodDirs !== undefined ? { keepPodDirs: opts.keepPodDirs } : {}),
    ...(opts.images ? { images: opts.images } : {}),
    apiUrl: () => api?.url,
    ...(opts.nodeAddress ? { nodeAddress: opts.nodeAddress } : {}),
    serviceAccounts,
    log,
  });
  const slices = new EndpointSliceController(registry);
  const statefulSets = new StatefulSetController(registry, log);
  const replicaSets = new ReplicaSetController(registry, log);
  const deployments = new DeploymentController(registry, log);
  const gateType = opts.gateController === undefined ? EBB_GATE : opts.gateController;
  const gates = gateType ? new GateController(registry, gateType) : null;
  slices.start();
  statefulSets.start();
  replicaSets.start();
  deployments.start();
  gates?.start();
  if (opts.kubelet !== false) runtime.start();

  const proxies = new Map<string, ServiceProxy>();
  const stop = async () => {
    await Promise.allSettled([...proxies.values()].map((p) => p.stop()));
    await api?.stop();
    statefulSets.stop();
    deployments.stop();
    replicaSets.stop();
    slices.stop();
    gates?.stop();
    await runtime.stop();
  };
  try {
    for (const spec of proxySpecs) {
      proxies.set(`${spec.namespace}/${spec.service}`, await ServiceProxy.start({ store, ...spec, log }));
    }
    api = await ApiServer.start({
      host: opts.api.host,
      port: opts.api.port,
      registry,
      serviceAccounts,
      ...(opts.token !== undefined ? { token: opts.token } : {}),
      log: (line) => log(`[api] ${line}`),
      ...(opts.logRequests ? { logRequests: true } : {}),
    });
  } catch (err) {
    await stop();
    throw err;
  }
  const started = api;
  return {
    store,
    registry,
    api: started,
    apiUrl: started.url,
    timeScale,
    proxy(namespace, service) {
      const p = proxies.get(`${namespace}/${service}`);
      if (!p) throw new Error(`no service proxy for ${namespace}/${service}`);
      return p;
    },
    stop,
  };
}
