-- Rollouts that need a second person's approval before they start (a protected fleet, or more targets
-- than EBB_APPROVAL_TARGET_THRESHOLD), and who asked and who approved, by principal id: the approver
-- must not be the requester.
ALTER TABLE "rollouts" ADD COLUMN "requires_approval" BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE "rollouts" ADD COLUMN "requester_id" TEXT;
ALTER TABLE "rollouts" ADD COLUMN "approved_by" TEXT;
ALTER TABLE "rollouts" ADD COLUMN "approver_id" TEXT;
ALTER TABLE "rollouts" ADD COLUMN "approved_at" TIMESTAMPTZ(3);

CREATE INDEX "rollouts_created_at_id_idx" ON "rollouts"("created_at" DESC, "id" DESC);
