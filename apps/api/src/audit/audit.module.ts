import { type DynamicModule, Module } from "@nestjs/common";
import { APP_INTERCEPTOR } from "@nestjs/core";
import { AuditController } from "./audit.controller.js";
import { AuditService } from "./audit.service.js";
import { AUDIT_OPTIONS, AuditHttpRecorder, AuditInterceptor, type AuditOptions } from "./audit-http.js";

/**
 * The audit history for the roles that serve HTTP: the recorder of mutating requests, the read API, and
 * AuditService (global) for modules that append in their own transactions. Workers need none of it:
 * transitions are appended by `auditNotices` inside the engine's transaction.
 */
@Module({})
export class AuditModule {
  static forRoot(options: AuditOptions = {}): DynamicModule {
    return {
      module: AuditModule,
      global: true,
      controllers: [AuditController],
      providers: [
        { provide: AUDIT_OPTIONS, useValue: options },
        AuditService,
        AuditHttpRecorder,
        { provide: APP_INTERCEPTOR, useClass: AuditInterceptor },
      ],
      exports: [AuditService],
    };
  }
}
