export { ConfigError, type DrainHookConfig, loadConfig, parseDuration } from "./config.js";
export { type Connection, parseProcNetTcp, readConnections } from "./connections.js";
export {
  Drain,
  type DrainReport,
  type DrainSettings,
  type Observation,
  type ReleaseReason,
} from "./drain.js";
export { type DrainHook, runDrain, startDrainHook, type TerminationReport } from "./hook.js";
export { type EndpointView, endpointView } from "./kube.js";
