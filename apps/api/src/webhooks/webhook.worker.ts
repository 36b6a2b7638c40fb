import { QUEUES, webhookDeliverPayloadSchema } from "@ebb/contracts";
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from "@nestjs/common";
import { type Job, UnrecoverableError, Worker } from "bullmq";
import { CONFIG, DATABASE, REDIS_CONNECTION, WEBHOOK_NOTIFIER } from "../common/tokens.js";
import type { EbbConfig } from "../config/config.js";
import type { Database } from "../database/client.js";
import type { RedisConnections } from "../redis/connections.js";
import { deliver } from "./deliver.js";
import type { WebhookNotifier } from "./webhook-notifier.js";
import { WebhooksRepository } from "./webhooks.repository.js";

/** Pending deliveries re-queued per sweep: a backlog larger than this drains over several sweeps. */
const SWEEP_LIMIT = 500;

/**
 * The worker roles' delivery processor (queue ebb-webhook, its own BullMQ worker so a slow receiver never
 * takes a rollout's job slot), and a sweep that re-adds the jobs of pending deliveries Redis lost (same
 * job id: a no-op for those it still has), at start and every EBB_RECONCILE_INTERVAL_MS.
 */
@Injectable()
export class WebhookWorker implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger("webhooks");
  @Inject(CONFIG) private readonly config!: EbbConfig;
  @Inject(DATABASE) private readonly database!: Database;
  @Inject(REDIS_CONNECTION) private readonly redis!: RedisConnections;
  @Inject(WEBHOOK_NOTIFIER) private readonly notifier!: WebhookNotifier;
  private worker: Worker | undefined;
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;

  onApplicationBootstrap(): void {
    const repository = new WebhooksRepository(this.database.prisma);
    this.worker = new Worker(
      QUEUES.webhook,
      async (job: Job) => {
        const { deliveryId } = webhookDeliverPayloadSchema.parse(job.data);
        const outcome = await deliver(repository, deliveryId, {
          timeoutMs: this.config.webhooks.timeoutMs,
          lastTry: job.attemptsMade + 1 >= (job.opts.attempts ?? 1),
        });
        if (outcome.kind === "retry") throw new Error(outcome.message);
        if (outcome.kind === "give-up") throw new UnrecoverableError(outcome.message);
      },
      { connection: this.redis.create("worker", "ebb-webhook-worker"), concurrency: 10 },
    );
    this.worker.on("error", (err) => this.logger.warn(`worker: ${err.message}`));
    this.worker.on("failed", (job, err) =>
      this.logger.debug(`delivery ${job?.id ?? "?"} try ${job?.attemptsMade ?? "?"} failed: ${err.message}`),
    );
    this.sweep();
    this.timer = setInterval(() => this.sweep(), this.config.worker.reconcileIntervalMs);
    this.timer.unref();
  }

  private sweep(): void {
    if (this.sweeping) return;
    const repository = new WebhooksRepository(this.database.prisma);
    this.sweeping = repository
      .pendingIds(SWEEP_LIMIT)
      .then((ids) => this.notifier.enqueue(ids))
      .catch((err: unknown) => this.logger.warn(`sweep: ${(err as Error).message}`))
      .finally(() => {
        this.sweeping = undefined;
      });
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    await this.worker?.close();
    await this.sweeping;
  }
}
