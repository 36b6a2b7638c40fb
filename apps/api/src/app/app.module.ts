import { type DynamicModule, type ForwardReference, Module, type Type } from "@nestjs/common";
import { APP_FILTER, APP_GUARD, APP_PIPE } from "@nestjs/core";
import { AuditModule } from "../audit/audit.module.js";
import { AuthGuard } from "../auth/auth.guard.js";
import { AuthModule } from "../auth/auth.module.js";
import { ApiExceptionFilter } from "../common/exception.filter.js";
import { createValidationPipe } from "../common/validation.js";
import type { EbbConfig } from "../config/config.js";
import { servesHttp } from "../config/roles.js";
import { HealthModule } from "../health/health.module.js";
import { MetricsModule, type ObservabilityOptions } from "../metrics/metrics.module.js";
import { type AppResources, InfrastructureModule } from "./infrastructure.module.js";

export type ModuleImport = Type<unknown> | DynamicModule | Promise<DynamicModule> | ForwardReference;

export interface AppModuleOptions extends AppResources {
  /** Feature modules (rollouts, engine, processors) and, in tests, test controllers. */
  modules?: ModuleImport[];
  /** The metrics bootstrap made and the engine observers of tracing, when it is on. */
  observability?: ObservabilityOptions;
}

/**
 * The root module. Thin: infrastructure tokens, health, auth and its global guard, the error filter and
 * the validation pipe; features come in through `modules`, chosen by role (HTTP controllers for api,
 * processors for worker).
 */
@Module({})
export class AppModule {
  static forRoot(config: EbbConfig, options: AppModuleOptions): DynamicModule {
    const { modules = [], observability, ...resources } = options;
    return {
      module: AppModule,
      imports: [
        InfrastructureModule.forRoot(config, resources),
        MetricsModule.forRoot(config, observability),
        ...(servesHttp(config.role)
          ? [HealthModule, AuthModule, AuditModule.forRoot({ trustProxy: config.trustProxy })]
          : []),
        ...modules,
      ],
      providers: [
        { provide: APP_FILTER, useClass: ApiExceptionFilter },
        { provide: APP_PIPE, useFactory: createValidationPipe },
        // Every HTTP route, whatever module brings it, is behind the auth guard (deny by default).
        ...(servesHttp(config.role) ? [{ provide: APP_GUARD, useClass: AuthGuard }] : []),
      ],
    };
  }
}
