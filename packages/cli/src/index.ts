/** @ebb/cli: the `ebb` command for CI. */
export { ApiError, EbbClient, EXIT, UsageError } from "./client.js";
export { type Io, run, sinceToIso } from "./main.js";
export { follow, type SseMessage } from "./sse.js";
