-- Audit history (issue #4): an append-only, hash-chained record of every mutating API request (allowed or
-- denied) and every rollout, target and step transition. Applied by apps/api/src/database/migrate.ts,
-- which records a sha256 of this file: never edit it once applied, add a new migration folder instead.
--
-- Chain: hash = sha256(prev_hash || '\n' || canonical JSON of every column but hash), prev_hash of the first
-- row is 64 zeros (apps/api/src/audit/chain.ts). Appenders take pg_advisory_xact_lock(7305509716269230452)
-- ("ebbaudit" in ASCII), read the last row and insert id = last id + 1, so ids are dense: a missing id is
-- a deleted row, which `GET /audit/verify` reports as a gap. That is why id has no sequence: a bigserial
-- leaves holes whenever a transaction that appended rolls back, and a hole would look like a deletion.
--
-- Roles. Production runs migrations as the owner of the schema and the application as another role that
-- holds only SELECT and INSERT on this table:
--     GRANT SELECT, INSERT ON audit_events TO ebb_app;
-- The owner (or a superuser) can still disable the triggers below; the application role cannot, since
-- ALTER TABLE needs ownership. Tests run as a superuser and disable them on purpose to tamper with a row.

-- CreateTable
CREATE TABLE "audit_events" (
    "id" BIGINT NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL,
    "actor_kind" TEXT NOT NULL,
    "actor_id" TEXT NOT NULL,
    "actor_name" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "resource_type" TEXT,
    "resource_id" TEXT,
    "fleet" TEXT,
    "summary" JSONB NOT NULL DEFAULT '{}',
    "outcome" TEXT NOT NULL,
    "http_status" INTEGER,
    "client_ip" TEXT,
    "user_agent" TEXT,
    "request_id" TEXT,
    "prev_hash" TEXT NOT NULL,
    "hash" TEXT NOT NULL,

    CONSTRAINT "audit_events_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "audit_events_id_check" CHECK ("id" >= 1),
    CONSTRAINT "audit_events_actor_kind_check" CHECK ("actor_kind" IN ('user', 'token', 'system', 'anonymous')),
    CONSTRAINT "audit_events_outcome_check" CHECK ("outcome" IN ('succeeded', 'failed', 'denied')),
    CONSTRAINT "audit_events_prev_hash_check" CHECK ("prev_hash" ~ '^[0-9a-f]{64}$'),
    CONSTRAINT "audit_events_hash_check" CHECK ("hash" ~ '^[0-9a-f]{64}$')
);

-- CreateIndex
CREATE INDEX "audit_events_at_idx" ON "audit_events"("at");

-- CreateIndex
CREATE INDEX "audit_events_actor_id_id_idx" ON "audit_events"("actor_id", "id");

-- CreateIndex
CREATE INDEX "audit_events_actor_name_id_idx" ON "audit_events"("actor_name", "id");

-- CreateIndex
CREATE INDEX "audit_events_action_id_idx" ON "audit_events"("action", "id");

-- CreateIndex
CREATE INDEX "audit_events_fleet_id_idx" ON "audit_events"("fleet", "id");

-- CreateIndex
CREATE INDEX "audit_events_resource_type_resource_id_id_idx" ON "audit_events"("resource_type", "resource_id", "id");

-- History cannot be rewritten by any role that does not own the table: every UPDATE and DELETE raises,
-- and TRUNCATE (which fires no row trigger) has a statement trigger of its own.
CREATE FUNCTION "audit_events_append_only"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER "audit_events_no_update_delete"
    BEFORE UPDATE OR DELETE ON "audit_events"
    FOR EACH ROW EXECUTE FUNCTION "audit_events_append_only"();

CREATE TRIGGER "audit_events_no_truncate"
    BEFORE TRUNCATE ON "audit_events"
    FOR EACH STATEMENT EXECUTE FUNCTION "audit_events_append_only"();

REVOKE UPDATE, DELETE, TRUNCATE ON "audit_events" FROM PUBLIC;
