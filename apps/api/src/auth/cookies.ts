import type { IncomingMessage } from "node:http";

export const SESSION_COOKIE = "ebb_session";

/** The value of one cookie of the request's Cookie header, undefined when absent. */
export function readCookie(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    return value;
  }
  return undefined;
}

export interface CookieOptions {
  secure: boolean;
}

/**
 * HttpOnly: page scripts (an XSS) cannot read it. SameSite=Strict: browsers do not send it on requests
 * started by another site, the first line against CSRF (the X-CSRF-Token check is the second).
 */
export function sessionCookie(value: string, maxAgeSeconds: number, { secure }: CookieOptions): string {
  return [
    `${SESSION_COOKIE}=${value}`,
    "Path=/",
    "HttpOnly",
    "SameSite=Strict",
    `Max-Age=${Math.max(0, Math.floor(maxAgeSeconds))}`,
    ...(secure ? ["Secure"] : []),
  ].join("; ");
}

export function clearedSessionCookie(options: CookieOptions): string {
  return sessionCookie("", 0, options);
}
