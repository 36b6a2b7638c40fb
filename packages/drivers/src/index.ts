/**
 * @ebb/drivers: balancers (l4, haproxy, and kubernetes through a lazy wrapper) and executors (local, ssh) behind the
 * interfaces of @ebb/core. The Kubernetes driver itself is the subpath `@ebb/drivers/kubernetes`: importing
 * @kubernetes/client-node costs ~85 MB of RSS, so nothing here loads it until a Kubernetes fleet is used.
 */
export * from "./command/index.js";
export * from "./factory.js";
export * from "./haproxy/index.js";
export {
  DRAIN_BUDGET_ANNOTATION,
  EBB_GATE,
  KEEP_ALIVE_ANNOTATION,
  type KubernetesConfig,
  type KubernetesConfigInput,
  kubernetesConfigSchema,
  parseKubernetesConfig,
  VERSION_ANNOTATION,
} from "./kubernetes/config.js";
export { LazyKubernetesBalancer } from "./kubernetes/lazy.js";
export * from "./l4/index.js";
export * from "./local/index.js";
export { type BalancerMember, MemberBalancer } from "./members/member-balancer.js";
export * from "./registry.js";
export * from "./ssh/index.js";
