export { type LabConfig, parseLabConfig } from "./config.js";
export {
  LAB_DEPLOY_FLEET,
  registerHaproxyWorld,
  registerLabDeploy,
  registerLabPods,
  registerWorld,
} from "./fleet.js";
export * from "./front-proxy/index.js";
export {
  HAPROXY_INSTALL_HINT,
  type HaproxyWorld,
  type HaproxyWorldOptions,
  haproxyAvailable,
  haproxyBalancerConfig,
  startHaproxyWorld,
} from "./haproxy.js";
export * from "./k8s/index.js";
export * from "./loadgen/index.js";
export * from "./soak/index.js";
export * from "./vm/index.js";
export { type LabVm, labVmTimings, nthHost, startWorld, type World, type WorldOptions } from "./world.js";
