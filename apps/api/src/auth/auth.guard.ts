import type { IncomingMessage } from "node:http";
import { type CanActivate, type ExecutionContext, Inject, Injectable, Logger } from "@nestjs/common";
import { Reflector } from "@nestjs/core";
import { DATABASE } from "../common/tokens.js";
import type { Database } from "../database/client.js";
import { ACCESS_METADATA, type AccessLevel } from "./access.js";
import { AuthService } from "./auth.service.js";
import { csrfFailed, forbidden, unauthenticated } from "./errors.js";
import { checkFleetScope } from "./fleet-scope.js";
import { type AuthenticatedRequest, scopeAllows } from "./principal.js";
import { safeEqual } from "./secrets.js";

/** Methods a browser form or a cross-site script could send with the cookie attached. */
const STATE_CHANGING = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export const CSRF_HEADER = "x-csrf-token";

/** The route's declared level: the handler's `@Access`, else its controller's. */
export function accessLevel(reflector: Reflector, context: ExecutionContext): AccessLevel | undefined {
  return reflector.getAllAndOverride<AccessLevel | undefined>(ACCESS_METADATA, [
    context.getHandler(),
    context.getClass(),
  ]);
}

/**
 * The global guard (APP_GUARD), deny by default: a route without `@Access` answers 403 and logs an
 * error naming it. Otherwise it identifies the caller (bearer token, else session cookie), sets
 * `req.principal` before any refusal (the audit reads it on every answer), checks the CSRF token of
 * cookie-authenticated state-changing requests, then the scope.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  private readonly logger = new Logger("auth");
  @Inject(Reflector) private readonly reflector!: Reflector;
  @Inject(AuthService) private readonly auth!: AuthService;
  @Inject(DATABASE) private readonly database!: Database;

  async canActivate(context: ExecutionContext): Promise<boolean> {
    // Nothing but HTTP reaches controllers in Ebb; a new transport must bring its own decision.
    if (context.getType() !== "http") return false;
    const req = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const level = accessLevel(this.reflector, context);
    const identified = await this.auth.identify(req);
    if (identified.kind === "valid") req.principal = identified.auth.principal;

    if (level === undefined) {
      const route = `${req.method} ${routePath(req)} (${context.getClass().name}.${context.getHandler().name})`;
      this.logger.error(`${route} has no @Access(...) decision: denied (deny by default)`);
      throw forbidden("this route declares no access level, so it is closed to everyone");
    }
    // A stale cookie or a bad header must not keep anyone from logging in or probing health.
    if (level === "public") return true;

    if (identified.kind !== "valid") {
      throw identified.kind === "invalid"
        ? unauthenticated("the credential is invalid, expired or revoked")
        : unauthenticated();
    }
    const { auth } = identified;
    if (auth.via === "session" && STATE_CHANGING.has(req.method ?? "")) checkCsrf(req, auth.csrfToken);
    if (!scopeAllows(auth.principal.scope, level)) {
      throw forbidden(
        `needs scope ${level}; the ${auth.principal.kind} ${auth.principal.name} has ${auth.principal.scope}`,
        {
          needed: level,
          held: auth.principal.scope,
        },
      );
    }
    await checkFleetScope(this.database.prisma, req, auth.principal);
    return true;
  }
}

function checkCsrf(req: IncomingMessage, expected: string | undefined): void {
  const sent = req.headers[CSRF_HEADER];
  if (typeof sent !== "string" || sent === "" || expected === undefined || !safeEqual(sent, expected)) {
    throw csrfFailed(
      "a state-changing request with the session cookie needs the X-CSRF-Token header of the session (from the login answer or GET /auth/me)",
    );
  }
}

/** The route's path without its query string (which may carry anything). */
function routePath(req: IncomingMessage & { route?: { path?: unknown }; originalUrl?: string }): string {
  const declared = req.route?.path;
  if (typeof declared === "string") return declared;
  return (req.originalUrl ?? req.url ?? "").split("?")[0] ?? "";
}
