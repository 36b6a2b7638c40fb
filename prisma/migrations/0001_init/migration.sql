-- Ebb initial schema: what `prisma migrate dev` generates for prisma/schema.prisma, written by hand because
-- Prisma's schema engine cannot be downloaded everywhere Ebb runs. Applied by apps/api/src/database/migrate.ts,
-- which records a sha256 of this file: never edit it once applied, add a new migration folder instead.

-- CreateTable
CREATE TABLE "fleets" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "balancer" TEXT NOT NULL,
    "balancer_config" JSONB NOT NULL DEFAULT '{}',
    "protected" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "fleets_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "targets" (
    "id" UUID NOT NULL,
    "fleet_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "host" TEXT NOT NULL,
    "port" INTEGER NOT NULL,
    "executor" TEXT NOT NULL DEFAULT 'local',
    "executor_config" JSONB NOT NULL DEFAULT '{}',
    "labels" JSONB NOT NULL DEFAULT '{}',
    "facts" JSONB NOT NULL DEFAULT '{}',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "targets_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "runbook_versions" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "version" INTEGER NOT NULL,
    "source" TEXT NOT NULL,
    "checksum" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "created_by" TEXT,

    CONSTRAINT "runbook_versions_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "rollouts" (
    "id" UUID NOT NULL,
    "fleet_id" UUID NOT NULL,
    "runbook_version_id" UUID NOT NULL,
    "version" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "strategy" JSONB NOT NULL,
    "plan" JSONB NOT NULL,
    "params" JSONB NOT NULL DEFAULT '{}',
    "state" JSONB NOT NULL,
    "revision" INTEGER NOT NULL DEFAULT 0,
    "idempotency_key" TEXT,
    "requested_by" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,
    "started_at" TIMESTAMPTZ(3),
    "finished_at" TIMESTAMPTZ(3),

    CONSTRAINT "rollouts_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "target_runs" (
    "id" UUID NOT NULL,
    "rollout_id" UUID NOT NULL,
    "target_id" UUID NOT NULL,
    "batch" INTEGER NOT NULL,
    "status" TEXT NOT NULL,
    "step_index" INTEGER NOT NULL,
    "attempt" INTEGER NOT NULL,
    "error" JSONB,
    "started_at" TIMESTAMPTZ(3),
    "finished_at" TIMESTAMPTZ(3),

    CONSTRAINT "target_runs_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "step_runs" (
    "id" UUID NOT NULL,
    "target_run_id" UUID NOT NULL,
    "step_index" INTEGER NOT NULL,
    "step_id" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "attempt" INTEGER NOT NULL,
    "status" TEXT NOT NULL,
    "started_at" TIMESTAMPTZ(3),
    "finished_at" TIMESTAMPTZ(3),
    "output_tail" TEXT,
    "error" JSONB,
    "observations" JSONB NOT NULL DEFAULT '[]',

    CONSTRAINT "step_runs_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "leases" (
    "target_id" UUID NOT NULL,
    "rollout_id" UUID NOT NULL,
    "token" BIGINT NOT NULL,
    "acquired_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "leases_pkey" PRIMARY KEY ("target_id")
);

-- CreateTable
CREATE TABLE "rollout_events" (
    "id" BIGSERIAL NOT NULL,
    "rollout_id" UUID NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "type" TEXT NOT NULL,
    "target" TEXT,
    "data" JSONB NOT NULL DEFAULT '{}',

    CONSTRAINT "rollout_events_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "fleets_name_key" ON "fleets"("name");

-- CreateIndex
CREATE UNIQUE INDEX "targets_fleet_id_name_key" ON "targets"("fleet_id", "name");

-- CreateIndex
CREATE UNIQUE INDEX "runbook_versions_name_version_key" ON "runbook_versions"("name", "version");

-- CreateIndex
CREATE UNIQUE INDEX "runbook_versions_name_checksum_key" ON "runbook_versions"("name", "checksum");

-- CreateIndex
CREATE UNIQUE INDEX "rollouts_idempotency_key_key" ON "rollouts"("idempotency_key");

-- CreateIndex
CREATE INDEX "rollouts_status_idx" ON "rollouts"("status");

-- CreateIndex
CREATE INDEX "rollouts_fleet_id_created_at_idx" ON "rollouts"("fleet_id", "created_at");

-- CreateIndex
CREATE UNIQUE INDEX "target_runs_rollout_id_target_id_key" ON "target_runs"("rollout_id", "target_id");

-- CreateIndex
CREATE UNIQUE INDEX "step_runs_target_run_id_step_index_attempt_key" ON "step_runs"("target_run_id", "step_index", "attempt");

-- CreateIndex
CREATE INDEX "leases_rollout_id_idx" ON "leases"("rollout_id");

-- CreateIndex
CREATE INDEX "rollout_events_rollout_id_id_idx" ON "rollout_events"("rollout_id", "id");

-- AddForeignKey
ALTER TABLE "targets" ADD CONSTRAINT "targets_fleet_id_fkey" FOREIGN KEY ("fleet_id") REFERENCES "fleets"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "rollouts" ADD CONSTRAINT "rollouts_fleet_id_fkey" FOREIGN KEY ("fleet_id") REFERENCES "fleets"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "rollouts" ADD CONSTRAINT "rollouts_runbook_version_id_fkey" FOREIGN KEY ("runbook_version_id") REFERENCES "runbook_versions"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "target_runs" ADD CONSTRAINT "target_runs_rollout_id_fkey" FOREIGN KEY ("rollout_id") REFERENCES "rollouts"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "target_runs" ADD CONSTRAINT "target_runs_target_id_fkey" FOREIGN KEY ("target_id") REFERENCES "targets"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "step_runs" ADD CONSTRAINT "step_runs_target_run_id_fkey" FOREIGN KEY ("target_run_id") REFERENCES "target_runs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "leases" ADD CONSTRAINT "leases_target_id_fkey" FOREIGN KEY ("target_id") REFERENCES "targets"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "leases" ADD CONSTRAINT "leases_rollout_id_fkey" FOREIGN KEY ("rollout_id") REFERENCES "rollouts"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "rollout_events" ADD CONSTRAINT "rollout_events_rollout_id_fkey" FOREIGN KEY ("rollout_id") REFERENCES "rollouts"("id") ON DELETE CASCADE ON UPDATE CASCADE;
