import type { IncomingMessage, ServerResponse } from "node:http";
import type { ApiErrorBody } from "@ebb/contracts";
import { ensureRequestId } from "./request-id.js";

/**
 * Last in the chain, for paths outside the API prefix: Nest's own 404 handler only covers the prefix,
 * and Express would answer an HTML page. Clients parsing our error shape get it everywhere.
 */
export function notFoundFallback(prefix: string) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const requestId = ensureRequestId(req, res);
    const body: ApiErrorBody = {
      error: {
        code: "not_found",
        message: `Cannot ${req.method} ${req.url}: the API is served under /${prefix}`,
        details: null,
        requestId,
      },
    };
    res.statusCode = 404;
    res.setHeader("content-type", "application/json; charset=utf-8");
    res.end(JSON.stringify(body));
  };
}
