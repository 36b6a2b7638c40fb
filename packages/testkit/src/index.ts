export { freePort } from "./ports.js";
export { WaitTimeoutError, waitFor } from "./wait.js";
