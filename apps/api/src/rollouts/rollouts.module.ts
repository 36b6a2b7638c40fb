import { Module } from "@nestjs/common";
import { FleetsModule } from "../fleets/fleets.module.js";
import { RolloutsController } from "./rollouts.controller.js";
import { RolloutsService } from "./rollouts.service.js";

@Module({ imports: [FleetsModule], controllers: [RolloutsController], providers: [RolloutsService] })
export class RolloutsModule {}
