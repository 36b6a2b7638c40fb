import { QUEUES } from "@ebb/contracts";
import type { Engine } from "@ebb/engine";
import {
  type DynamicModule,
  Inject,
  Injectable,
  Logger,
  Module,
  type OnApplicationShutdown,
} from "@nestjs/common";
import type { Queue } from "bullmq";
import { DATABASE, REDIS_CONNECTION, WEBHOOK_NOTIFIER } from "../common/tokens.js";
import type { EbbConfig } from "../config/config.js";
import { runsWorkers, servesHttp } from "../config/roles.js";
import type { Database } from "../database/client.js";
import { ENGINE } from "../engine/tokens.js";
import type { RedisConnections } from "../redis/connections.js";
import { openQueue } from "../redis/queue.js";
import { WebhookWorker } from "./webhook.worker.js";
import { WebhookNotifier } from "./webhook-notifier.js";
import { WebhooksController } from "./webhooks.controller.js";
import { WebhooksRepository } from "./webhooks.repository.js";
import { WebhooksService } from "./webhooks.service.js";
import { WEBHOOK_QUEUE } from "./webhooks.tokens.js";

/** Closes the queue after the modules' destroy hooks (the delivery worker closes there). */
@Injectable()
class WebhookQueueShutdown implements OnApplicationShutdown {
  @Inject(WEBHOOK_QUEUE) private readonly queue!: Queue;

  async onApplicationShutdown(): Promise<void> {
    await this.queue.close();
  }
}

/**
 * Webhooks: the notifier in every role (transitions are applied by the API and by workers alike), the
 * delivery worker in worker roles, the controller where the role serves HTTP.
 */
@Module({})
export class WebhooksModule {
  static forRoot(config: EbbConfig): DynamicModule {
    return {
      module: WebhooksModule,
      global: true,
      controllers: servesHttp(config.role) ? [WebhooksController] : [],
      providers: [
        {
          provide: WEBHOOK_QUEUE,
          useFactory: (redis: RedisConnections) => openQueue(QUEUES.webhook, redis),
          inject: [REDIS_CONNECTION],
        },
        WebhookQueueShutdown,
        {
          provide: WEBHOOK_NOTIFIER,
          useFactory: (database: Database, queue: Queue, engine: Engine) => {
            const logger = new Logger("webhooks");
            const notifier = new WebhookNotifier(
              new WebhooksRepository(database.prisma),
              queue,
              { attempts: config.webhooks.attempts, backoffMs: config.webhooks.backoffMs },
              (line) => logger.warn(line),
            );
            engine.notices.on("notice", ({ rolloutId, notice }) => {
              void notifier.notice(rolloutId, notice);
            });
            return notifier;
          },
          inject: [DATABASE, WEBHOOK_QUEUE, ENGINE],
        },
        ...(servesHttp(config.role) ? [WebhooksService] : []),
        ...(runsWorkers(config.role) ? [WebhookWorker] : []),
      ],
      exports: [WEBHOOK_NOTIFIER],
    };
  }
}
