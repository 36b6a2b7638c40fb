/**
 * @ebb/contracts: what the API, the workers, the CLI and the dashboard agree on. The queue and job
 * catalog, and the REST API's request/response schemas. zod only: safe to bundle for the browser.
 */
export * from "./api.js";
export * from "./audit.js";
export * from "./auth.js";
export * from "./findings.js";
export * from "./jobs.js";
export * from "./queues.js";
export * from "./views.js";
export * from "./webhooks.js";
