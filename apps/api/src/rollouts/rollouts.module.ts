import { Module } from "@nestjs/common";
import { RolloutsController } from "./rollouts.controller.js";
import { RolloutsService } from "./rollouts.service.js";

@Module({ controllers: [RolloutsController], providers: [RolloutsService] })
export class RolloutsModule {}
