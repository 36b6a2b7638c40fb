// The lab's Kubernetes: an API server emulator (kubectl and client-node work against it), pods as lab VM
// processes, the EndpointSlice and StatefulSet controllers, and kube-proxy with its lag. Narrow on purpose:
// apps/lab re-exports this with `export *` next to the other lab modules.
export {
  type Cluster,
  type ClusterOptions,
  EBB_GATE,
  type ServiceProxySpec,
  startCluster,
} from "./cluster.js";
export { type KubeconfigSpec, kubeconfigText, writeKubeconfig } from "./kubeconfig.js";
export {
  DRAIN_BUDGET_ANNOTATION,
  demoStatefulSet,
  KEEP_ALIVE_ANNOTATION,
  type LabCluster,
  type LabClusterOptions,
  type LabDeployment,
  type LabDeploymentOptions,
  type LabPodsFleet,
  labPodsFleet,
  startLabCluster,
} from "./lab-cluster.js";
export {
  DRAIN_HOOK_ACCOUNT,
  DRAIN_HOOK_IMAGE,
  DRAIN_HOOK_PORT,
  demoDeployment,
  drainHookRbac,
} from "./lab-deploy.js";
export type { SidecarMode } from "./pod-runtime.js";
export {
  DEPLOYMENTS as K8S_DEPLOYMENTS,
  ENDPOINTSLICES as K8S_ENDPOINTSLICES,
  HPAS as K8S_HPAS,
  PDBS as K8S_PDBS,
  PODS as K8S_PODS,
  REPLICASETS as K8S_REPLICASETS,
  SERVICES as K8S_SERVICES,
  STATEFULSETS as K8S_STATEFULSETS,
} from "./resources.js";
export type { ProxyEndpoint, ServiceProxy } from "./service-proxy.js";
export type { SidecarStats } from "./sidecar.js";
export { isPodReady, type KObject as K8sObject, type Pod as K8sPod } from "./types.js";
