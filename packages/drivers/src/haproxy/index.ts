export { type HaproxyAdminState, HaproxyBalancer, type HaproxyBalancerOptions } from "./balancer.js";
export {
  HAPROXY_DEFAULT_TIMING,
  type HaproxyConfig,
  haproxyConfigSchema,
  parseHaproxyConfig,
} from "./config.js";
export { StatPoller, type StatReading } from "./poller.js";
export {
  type HaproxyLabSpec,
  type HaproxyProcess,
  renderHaproxyConfig,
  startHaproxyProcess,
} from "./process.js";
export {
  DEFAULT_COMMAND_TIMEOUT_MS,
  formatRuntimeAddress,
  parseRuntimeAddress,
  type RuntimeAddress,
  RuntimeApiClient,
} from "./runtime-api.js";
export {
  parseServersState,
  parseShowStat,
  type ServerStat,
  type ServerState,
  stateOfStatus,
} from "./stats.js";
