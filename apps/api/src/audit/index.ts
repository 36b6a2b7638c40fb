export { AuditModule } from "./audit.module.js";
export { AuditService } from "./audit.service.js";
export { type AuditNote, type AuditOptions, noteAudit } from "./audit-http.js";
export {
  ANONYMOUS_ACTOR,
  type AppendedAuditEvent,
  type AuditActor,
  type AuditEventInput,
  appendAuditEvent,
  appendAuditEvents,
  verifyAuditChain,
} from "./audit-store.js";
export { auditNotices, type NoticeContext, SYSTEM_ACTOR } from "./notices.js";
