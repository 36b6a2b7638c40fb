-- Rollback (issue 14 §2). A target's version as Ebb last saw a rollout put it there, so the next rollout
-- knows what "previous" is; each target run keeps the version its target ran when the rollout was created
-- (the version a rollback goes back to); a rollback rollout names the rollout it rolls back.
ALTER TABLE "targets" ADD COLUMN "version" TEXT;
ALTER TABLE "target_runs" ADD COLUMN "previous_version" TEXT;
ALTER TABLE "rollouts" ADD COLUMN "rollback_of" UUID;
ALTER TABLE "rollouts" ADD CONSTRAINT "rollouts_rollback_of_fkey"
  FOREIGN KEY ("rollback_of") REFERENCES "rollouts"("id") ON DELETE SET NULL ON UPDATE CASCADE;
CREATE INDEX "rollouts_rollback_of_idx" ON "rollouts"("rollback_of");
