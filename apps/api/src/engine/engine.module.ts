import { baseEnvFrom, DefaultDriverRegistry } from "@ebb/drivers";
import { Engine, type EngineObserver } from "@ebb/engine";
import { type DynamicModule, Module } from "@nestjs/common";
import type { Queue } from "bullmq";
import { DATABASE, REDIS_CONNECTION, ROLLOUT_QUEUE } from "../common/tokens.js";
import type { EbbConfig } from "../config/config.js";
import { runsWorkers } from "../config/roles.js";
import type { Database } from "../database/client.js";
import { ENGINE_OBSERVERS } from "../metrics/tokens.js";
import type { RedisConnections } from "../redis/connections.js";
import { BullmqJobQueue } from "./bullmq-queue.js";
import { RolloutChanges } from "./changes.js";
import { EngineWorker } from "./engine.worker.js";
import { PrismaRolloutStore } from "./prisma-store.js";
import { CHANGES, DRIVERS, ENGINE } from "./tokens.js";

export interface EngineModuleOptions {
  /** The environment exec steps start from (PATH, HOME, LANG), read once by the process entry. */
  executorEnv: Record<string, string>;
}

/** The engine for every role (the API sends events); the BullMQ worker and reconciler for worker roles. */
@Module({})
export class EngineModule {
  static forRoot(config: EbbConfig, options: EngineModuleOptions): DynamicModule {
    return {
      module: EngineModule,
      global: true,
      providers: [
        {
          provide: DRIVERS,
          useFactory: () =>
            new DefaultDriverRegistry({
              baseEnv: baseEnvFrom(options.executorEnv),
              lockDir: config.lockDir,
              // ssh targets name their key `env:NAME`: it is read from the worker's environment, only here.
              keySources: { env: options.executorEnv },
            }),
        },
        {
          provide: CHANGES,
          useFactory: (redis: RedisConnections) => new RolloutChanges(redis),
          inject: [REDIS_CONNECTION],
        },
        {
          provide: ENGINE,
          useFactory: (
            database: Database,
            queue: Queue,
            drivers: DefaultDriverRegistry,
            changes: RolloutChanges,
            observers: EngineObserver[] | undefined,
          ) => {
            const engine = new Engine({
              store: new PrismaRolloutStore(database.prisma),
              queue: new BullmqJobQueue(queue),
              drivers,
              log: (line) => console.log(`[engine] ${line}`),
              observers: observers ?? [],
              approvalTtlMs: config.limits.approvalTtlMs,
            });
            engine.notices.on("notice", ({ rolloutId }) => changes.announce(rolloutId));
            return engine;
          },
          inject: [DATABASE, ROLLOUT_QUEUE, DRIVERS, CHANGES, { token: ENGINE_OBSERVERS, optional: true }],
        },
        ...(runsWorkers(config.role) ? [EngineWorker] : []),
      ],
      exports: [ENGINE, DRIVERS, CHANGES],
    };
  }
}
