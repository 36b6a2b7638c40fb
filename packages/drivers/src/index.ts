/**
 * @ebb/drivers: balancers (l4) and executors (local, ssh) behind the interfaces of @ebb/core.
 */
export * from "./factory.js";
export * from "./kubernetes/index.js";
export * from "./l4/index.js";
export * from "./local/index.js";
export * from "./ssh/index.js";
