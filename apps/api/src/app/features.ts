import type { EbbConfig } from "../config/config.js";
import { servesHttp } from "../config/roles.js";
import { EngineModule } from "../engine/engine.module.js";
import { FleetsModule } from "../fleets/fleets.module.js";
import { RolloutsModule } from "../rollouts/rollouts.module.js";
import { RunbooksModule } from "../runbooks/runbooks.module.js";
import { WebhooksModule } from "../webhooks/webhooks.module.js";
import type { ModuleImport } from "./app.module.js";

/**
 * Ebb's feature modules for a role: the engine everywhere (the API sends events, workers run jobs), the
 * HTTP controllers where the role serves HTTP. `executorEnv` is the process environment exec steps start
 * from, passed in by the entry point (the only reader of process.env).
 */
export function featureModules(
  config: EbbConfig,
  executorEnv: Record<string, string | undefined>,
): ModuleImport[] {
  const env = Object.fromEntries(
    Object.entries(executorEnv).filter((e): e is [string, string] => e[1] !== undefined),
  );
  return [
    EngineModule.forRoot(config, { executorEnv: env }),
    WebhooksModule.forRoot(config),
    ...(servesHttp(config.role) ? [FleetsModule, RolloutsModule, RunbooksModule] : []),
  ];
}
