import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { withLogContext } from "./log-context.js";

export const REQUEST_ID_HEADER = "x-request-id";

/**
 * What we accept from a caller's `x-request-id`: trace ids, UUIDs and the like. Anything else (spaces,
 * newlines, a 10 kB header) is replaced, because the id is written into log lines verbatim.
 */
const ACCEPTED_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

const ids = new WeakMap<object, string>();

/**
 * The request's id: the caller's `x-request-id` when it is acceptable, else a new UUID. Idempotent, and
 * echoed in the response header, so a client can quote it and we can find its log lines.
 */
export function ensureRequestId(req: IncomingMessage, res?: ServerResponse): string {
  let id = ids.get(req);
  if (id === undefined) {
    const header = req.headers[REQUEST_ID_HEADER];
    const given = Array.isArray(header) ? header[0] : header;
    id = given !== undefined && ACCEPTED_ID.test(given) ? given : randomUUID();
    ids.set(req, id);
  }
  if (res && !res.headersSent && !res.hasHeader(REQUEST_ID_HEADER)) res.setHeader(REQUEST_ID_HEADER, id);
  return id;
}

/** The id of a request that went through the middleware (controllers use it for audit records). */
export function requestIdOf(req: IncomingMessage): string | undefined {
  return ids.get(req);
}

/**
 * Plain (platform) middleware: runs before routing, so 404s and body-parser errors get an id too. The rest
 * of the request runs inside its log context: every line logged for it carries the id.
 */
export function requestIdMiddleware(req: IncomingMessage, res: ServerResponse, next: () => void): void {
  withLogContext({ requestId: ensureRequestId(req, res) }, next);
}
