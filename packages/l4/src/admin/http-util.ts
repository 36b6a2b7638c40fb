import type { IncomingMessage, ServerResponse } from "node:http";
import type { ConfigIssue } from "../errors.js";

export type ApiErrorCode =
  | "invalid_body"
  | "invalid_config"
  | "not_found"
  | "conflict"
  | "method_not_allowed"
  | "forbidden"
  | "internal";

/** An error the admin API answers with as `{ error: { code, message, details } }`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: ApiErrorCode,
    message: string,
    readonly details: ConfigIssue[] = [],
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "HttpError";
  }
}

export const BODY_LIMIT_BYTES = 64 * 1024;

/** Reads a JSON request body of at most 64 KiB. */
export async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > BODY_LIMIT_BYTES) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > BODY_LIMIT_BYTES) throw tooLarge();
    chunks.push(buf);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") throw new HttpError(400, "invalid_body", "request body is empty; expected JSON");
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new HttpError(400, "invalid_body", `request body is not valid JSON: ${(err as Error).message}`);
  }
}

function tooLarge(): HttpError {
  // The rest of the body is not read, so the connection cannot be reused.
  return new HttpError(413, "invalid_body", `request body exceeds ${BODY_LIMIT_BYTES} bytes`, [], {
    connection: "close",
  });
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
    ...headers,
  });
  res.end(text);
}

export function sendText(res: ServerResponse, status: number, contentType: string, text: string): void {
  res.writeHead(status, { "content-type": contentType, "content-length": Buffer.byteLength(text) });
  res.end(text);
}

export function sendError(res: ServerResponse, err: HttpError): void {
  sendJson(
    res,
    err.status,
    { error: { code: err.code, message: err.message, details: err.details } },
    err.headers,
  );
}
