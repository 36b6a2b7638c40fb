export { waitFor, WaitTimeoutError } from "./wait.js";
export { freePort } from "./ports.js";
