export {
  BASE_ENV_NAMES,
  baseEnvFrom,
  DEFAULT_BASE_ENV,
  DEFAULT_KILL_GRACE_MS,
  LocalExecutor,
  type LocalExecutorOptions,
} from "./local-executor.js";
export { lockFilePath } from "./lock-file.js";
