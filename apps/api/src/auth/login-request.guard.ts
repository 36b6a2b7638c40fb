import type { IncomingMessage } from "node:http";
import { type CanActivate, type ExecutionContext, Injectable } from "@nestjs/common";
import { csrfFailed } from "./errors.js";

/**
 * Login CSRF: the login answer sets a cookie, so a cross-site page must not be able to log a victim into
 * an account of the attacker's. A cross-site HTML form cannot send `Content-Type: application/json`
 * (anything else needs a CORS preflight we never grant), and a browser's Origin must name our host.
 * Runs before the body is validated, so such a request is refused without being looked at.
 */
@Injectable()
export class LoginRequestGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    checkLoginRequest(context.switchToHttp().getRequest<IncomingMessage>());
    return true;
  }
}

export function checkLoginRequest(req: IncomingMessage): void {
  const type = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase();
  if (type !== "application/json") {
    throw csrfFailed("login needs Content-Type: application/json");
  }
  if (req.headers["sec-fetch-site"] === "cross-site") {
    throw csrfFailed("login from another site is refused");
  }
  const origin = req.headers.origin;
  if (origin !== undefined) {
    let host: string | undefined;
    try {
      host = new URL(origin).host;
    } catch {
      host = undefined;
    }
    if (host === undefined || host !== req.headers.host) {
      throw csrfFailed("login from another origin is refused (Origin does not match Host)");
    }
  }
}
