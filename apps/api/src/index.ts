export { API_PREFIX, type BootstrapDeps, bootstrap, type RunningApp } from "./app/bootstrap.js";
export { featureModules } from "./app/features.js";
export {
  type AppendedAuditEvent,
  type AuditActor,
  type AuditEventInput,
  AuditModule,
  type AuditNote,
  AuditService,
  appendAuditEvent,
  appendAuditEvents,
  auditNotices,
  type NoticeContext,
  noteAudit,
  verifyAuditChain,
} from "./audit/index.js";
export { Access } from "./auth/access.js";
export { CredentialWatch } from "./auth/credential-watch.js";
export { ensureFirstAdmin } from "./auth/users.js";
export { DATABASE } from "./common/tokens.js";
export { type EbbConfig, parseConfig } from "./config/config.js";
export { type Database, openDatabase } from "./database/client.js";
export { EngineModule } from "./engine/engine.module.js";
export { ENGINE } from "./engine/tokens.js";
export { type LabFleetSpec, registerLabFleet } from "./fleets/lab-fleet.js";
export { RolloutsModule } from "./rollouts/rollouts.module.js";
