import { QUEUES } from "@ebb/contracts";
import { type DynamicModule, Inject, Injectable, Module, type OnApplicationShutdown } from "@nestjs/common";
import type { Queue } from "bullmq";
import { CONFIG, DATABASE, REDIS_CONNECTION, ROLLOUT_QUEUE, WORKER_PRESENCE } from "../common/tokens.js";
import { WorkerPresence } from "../common/worker-presence.js";
import type { EbbConfig } from "../config/config.js";
import type { Database } from "../database/client.js";
import type { RedisConnections } from "../redis/connections.js";
import { openQueue } from "../redis/queue.js";

/** What bootstrap opened before Nest started; their lifetimes belong to bootstrap. */
export interface AppResources {
  database: Database;
  redis: RedisConnections;
}

/** Closes the queue after every module's onModuleDestroy (where workers close), before Redis goes. */
@Injectable()
class QueueShutdown implements OnApplicationShutdown {
  @Inject(ROLLOUT_QUEUE) private readonly queue!: Queue;

  async onApplicationShutdown(): Promise<void> {
    await this.queue.close();
  }
}

/** CONFIG, DATABASE, REDIS_CONNECTION, ROLLOUT_QUEUE and WORKER_PRESENCE for every module (global). */
@Module({})
export class InfrastructureModule {
  static forRoot(config: EbbConfig, resources: AppResources): DynamicModule {
    return {
      module: InfrastructureModule,
      global: true,
      providers: [
        { provide: CONFIG, useValue: config },
        { provide: DATABASE, useValue: resources.database },
        { provide: REDIS_CONNECTION, useValue: resources.redis },
        {
          provide: ROLLOUT_QUEUE,
          useFactory: (redis: RedisConnections) => openQueue(QUEUES.rollout, redis),
          inject: [REDIS_CONNECTION],
        },
        {
          provide: WORKER_PRESENCE,
          useFactory: (q: Queue) => new WorkerPresence(q),
          inject: [ROLLOUT_QUEUE],
        },
        QueueShutdown,
      ],
      exports: [CONFIG, DATABASE, REDIS_CONNECTION, ROLLOUT_QUEUE, WORKER_PRESENCE],
    };
  }
}
