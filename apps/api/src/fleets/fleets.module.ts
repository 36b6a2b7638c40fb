import type { DriverRegistry } from "@ebb/engine";
import { Inject, Injectable, Module, type OnModuleDestroy } from "@nestjs/common";
import { DATABASE } from "../common/tokens.js";
import type { Database } from "../database/client.js";
import { DRIVERS } from "../engine/tokens.js";
import { FindingsController } from "./findings.controller.js";
import { FleetsController } from "./fleets.controller.js";
import { FleetsService } from "./fleets.service.js";
import { LIVE_TRAFFIC } from "./fleets.tokens.js";
import { LiveTraffic } from "./live-traffic.js";
import { TerminationsController } from "./terminations.controller.js";

@Injectable()
class LiveTrafficShutdown implements OnModuleDestroy {
  @Inject(LIVE_TRAFFIC) private readonly live!: LiveTraffic;
  onModuleDestroy(): void {
    this.live.close();
  }
}

/** Fleets and targets (api role), and the live traffic sampler the event streams share. */
@Module({
  controllers: [FleetsController, TerminationsController, FindingsController],
  providers: [
    FleetsService,
    {
      provide: LIVE_TRAFFIC,
      useFactory: (db: Database, drivers: DriverRegistry) => new LiveTraffic(db.prisma, drivers),
      inject: [DATABASE, DRIVERS],
    },
    LiveTrafficShutdown,
  ],
  exports: [FleetsService, LIVE_TRAFFIC],
})
export class FleetsModule {}
