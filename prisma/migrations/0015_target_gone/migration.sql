-- Targets discovered on the platform (issue 12 §1). A Deployment's pods get new names on every rollout: a
-- target whose pod is gone keeps its row (target runs reference it, its history is kept) and is marked with
-- when Ebb last found it missing; plans leave it out, the fleet view shows it apart. NULL: present.
ALTER TABLE "targets" ADD COLUMN "gone_at" TIMESTAMPTZ(3);
