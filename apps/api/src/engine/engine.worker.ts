import { QUEUES } from "@ebb/contracts";
import type { Engine } from "@ebb/engine";
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from "@nestjs/common";
import { Worker } from "bullmq";
import { withLogContext } from "../common/log-context.js";
import { CONFIG, REDIS_CONNECTION } from "../common/tokens.js";
import type { EbbConfig } from "../config/config.js";
import type { RedisConnections } from "../redis/connections.js";
import { processJob } from "./bullmq-queue.js";
import { ENGINE } from "./tokens.js";

/**
 * The worker role: a BullMQ worker whose processor hands every job to the engine, and the reconciler,
 * which runs once at start (a worker that starts after a crash resumes every rollout) and then periodically.
 */
@Injectable()
export class EngineWorker implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger("worker");
  @Inject(ENGINE) private readonly engine!: Engine;
  @Inject(CONFIG) private readonly config!: EbbConfig;
  @Inject(REDIS_CONNECTION) private readonly redis!: RedisConnections;
  private worker: Worker | undefined;
  private timer: NodeJS.Timeout | undefined;
  private reconciling: Promise<unknown> | undefined;

  async onApplicationBootstrap(): Promise<void> {
    this.worker = new Worker(
      QUEUES.rollout,
      (job, token) =>
        // Every line logged while a job runs names its rollout.
        withLogContext({ rolloutId: (job.data as { rolloutId?: string }).rolloutId }, () =>
          processJob(this.engine, job, token),
        ),
      {
        connection: this.redis.create("worker"),
        concurrency: this.config.worker.concurrency,
        // A killed worker's job is handed to another after the lock expires; a step that stalls many times
        // (repeated crashes) must still not be failed by BullMQ: the step's own deadline bounds it.
        lockDuration: this.config.worker.lockDurationMs,
        stalledInterval: Math.max(1_000, Math.floor(this.config.worker.lockDurationMs / 2)),
        maxStalledCount: 1_000,
      },
    );
    this.worker.on("error", (err) => this.logger.warn(`worker: ${err.message}`));
    this.worker.on("failed", (job, err) => this.logger.warn(`job ${job?.id ?? "?"} failed: ${err.message}`));
    this.reconcile();
    this.timer = setInterval(() => this.reconcile(), this.config.worker.reconcileIntervalMs);
    this.timer.unref();
  }

  private reconcile(): void {
    if (this.reconciling) return;
    this.reconciling = this.engine
      .reconcile()
      .catch((err: unknown) => this.logger.warn(`reconcile: ${(err as Error).message}`))
      .finally(() => {
        this.reconciling = undefined;
      });
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    await this.worker?.close();
    await this.reconciling;
    this.engine.close();
  }
}
