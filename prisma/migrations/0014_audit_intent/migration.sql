-- An allowed mutating request is recorded as `started` before its handler runs (committed before its
-- effect), and again with its outcome after its response: a process that dies in between leaves the
-- `started` event without an outcome, so the request is never lost without a trace.
ALTER TABLE "audit_events" DROP CONSTRAINT "audit_events_outcome_check";
ALTER TABLE "audit_events" ADD CONSTRAINT "audit_events_outcome_check"
    CHECK ("outcome" IN ('succeeded', 'failed', 'denied', 'started'));
