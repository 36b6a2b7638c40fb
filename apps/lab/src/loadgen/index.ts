// Narrow on purpose: apps/lab re-exports this with `export *` next to other lab modules.
export { RequestTimeoutError } from "./classify.js";
export { LoadGenerator } from "./generator.js";
export { runLoad } from "./run.js";
export type {
  ErrorKind,
  ErrorSample,
  LatencySummary,
  LoadOptions,
  LoadReport,
  LoadTarget,
  SecondReport,
} from "./types.js";
export { ERROR_KINDS as LOAD_ERROR_KINDS } from "./types.js";
