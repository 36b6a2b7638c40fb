export { foreignRequestProblem } from "./admin/host-check.js";
export {
  type DeepPartialConfig,
  type DeviceConfig,
  defaultDeviceConfig,
  deviceConfigSchema,
  type HealthCheckConfig,
  type SchedulerName,
} from "./config.js";
export { L4Device, type L4DeviceOptions } from "./device.js";
export { ConfigError, type ConfigIssue, UnknownServerError } from "./errors.js";
export { renderMetrics } from "./metrics.js";
export { detectionWindowMs, scaledMs } from "./timing.js";
export type {
  AdminState,
  CountersView,
  DeviceEvent,
  DeviceEventType,
  Health,
  LastCheck,
  RealServerSpec,
  ServerCounters,
  ServerView,
  SessionResetReason,
  SessionView,
  TotalCounters,
} from "./types.js";
