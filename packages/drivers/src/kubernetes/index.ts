export { KubernetesBalancer } from "./balancer.js";
export {
  DRAIN_BUDGET_ANNOTATION,
  EBB_GATE,
  KEEP_ALIVE_ANNOTATION,
  type KubernetesConfig,
  type KubernetesConfigInput,
  kubernetesConfigSchema,
  type MetricsConfig,
  OUT_OF_SERVICE_SINCE_ANNOTATION,
  parseKubernetesConfig,
  VERSION_ANNOTATION,
} from "./config.js";
export {
  type DeleteResult,
  type EndpointRemoval,
  KubernetesFleet,
  type ReadinessResult,
  type ReplacementCheck,
} from "./fleet.js";
export { type KubeClients, loadKubeConfig, makeClients } from "./kube.js";
export { LazyKubernetesBalancer } from "./lazy.js";
export { lintFleetWorkload } from "./lint.js";
export { type MetricsReading, PodTrafficMeter, parseEnvoyStats, parseLabVmStatus } from "./metrics.js";
export type { EndpointView, PodFacts } from "./pods.js";
