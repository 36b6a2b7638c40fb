/**
 * @ebb/core: the framework-free domain of the runbook engine. Pure functions and types; the only
 * I/O is loadBuiltinRunbooks() reading the YAML files shipped with the package.
 */
export * from "./analysis.js";
export * from "./conditions.js";
export * from "./discovery.js";
export * from "./drivers.js";
export * from "./errors.js";
export * from "./exec.js";
export * from "./facts.js";
export * from "./findings.js";
export * from "./holds.js";
export * from "./lint/workload-lint.js";
export * from "./params.js";
export * from "./plan/estimate.js";
export * from "./plan/planner.js";
export * from "./plan/strategy.js";
export * from "./preflight/preflight.js";
export * from "./runbook/builtins.js";
export * from "./runbook/duration.js";
export * from "./runbook/issues.js";
export * from "./runbook/json-schema.js";
export * from "./runbook/parse.js";
export * from "./runbook/roles.js";
export * from "./runbook/schema.js";
export * from "./runbook/step-types.js";
export * from "./runbook/steps.js";
export * from "./secret-ref.js";
export * from "./statuses.js";
export * from "./template.js";
export * from "./webhooks/index.js";
export * from "./workflow/create.js";
export * from "./workflow/drain.js";
export * from "./workflow/machine.js";
export * from "./workflow/rollback.js";
export * from "./workflow/types.js";
