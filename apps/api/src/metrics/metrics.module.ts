import type { EngineObserver } from "@ebb/engine";
import { type DynamicModule, Inject, Injectable, Logger, Module, type OnModuleInit } from "@nestjs/common";
import type { Queue } from "bullmq";
import { DATABASE, ROLLOUT_QUEUE } from "../common/tokens.js";
import type { EbbConfig } from "../config/config.js";
import { servesHttp } from "../config/roles.js";
import type { Database } from "../database/client.js";
import { registerFleetGauges } from "./fleet-gauges.js";
import { MetricsController } from "./metrics.controller.js";
import { EbbMetrics } from "./metrics.js";
import { ENGINE_OBSERVERS, METRICS } from "./tokens.js";
import { WorkerMetricsServer } from "./worker-metrics-server.js";

/** Adds the database and queue gauges once the infrastructure is up (HTTP roles only). */
@Injectable()
class FleetGauges implements OnModuleInit {
  private readonly logger = new Logger("metrics");
  @Inject(METRICS) private readonly metrics!: EbbMetrics;
  @Inject(DATABASE) private readonly database!: Database;
  @Inject(ROLLOUT_QUEUE) private readonly queue!: Queue;

  onModuleInit(): void {
    registerFleetGauges(this.metrics, {
      database: this.database,
      queue: this.queue,
      log: (line) => this.logger.warn(line),
    });
  }
}

export interface ObservabilityOptions {
  /** More engine observers (the tracing adapter, when traces are on). */
  observers?: readonly EngineObserver[];
  /** The metrics of this app, when bootstrap made them first (its HTTP middleware counts streams). */
  metrics?: EbbMetrics;
}

/**
 * METRICS and ENGINE_OBSERVERS for every module (global). Roles that serve HTTP answer `GET /metrics` on
 * the API's port with everything, fleet-wide gauges included; a worker-only process serves its own
 * counters and process metrics on EBB_METRICS_PORT.
 */
@Module({})
export class MetricsModule {
  static forRoot(config: EbbConfig, options: ObservabilityOptions = {}): DynamicModule {
    const metrics = options.metrics ?? new EbbMetrics();
    const http = servesHttp(config.role);
    return {
      module: MetricsModule,
      global: true,
      controllers: http ? [MetricsController] : [],
      providers: [
        { provide: METRICS, useValue: metrics },
        { provide: ENGINE_OBSERVERS, useValue: [metrics, ...(options.observers ?? [])] },
        ...(http ? [FleetGauges] : [WorkerMetricsServer]),
      ],
      exports: [METRICS, ENGINE_OBSERVERS],
    };
  }
}
