import { randomUUID } from "node:crypto";
import { isEbbError } from "@ebb/core";
import { HttpException } from "@nestjs/common";
import { z } from "zod";
import { codeForHttpStatus, EBB_ERROR_STATUS } from "./error-status.js";
import { RequestValidationError } from "./validation.js";

/** What the client gets (plus the request id), and how loudly we log it. */
export interface MappedError {
  status: number;
  code: string;
  message: string;
  details: unknown;
  /** `error`: a bug or an unknown failure, logged with its stack and an error id. */
  severity: "error" | "warn" | "none";
  /** Set for `error`: quoted to the client, and in the log line with the stack. */
  errorId?: string;
}

/** Maps anything a handler threw to the API's error answer. Never puts a stack or an unknown message in it. */
export function mapError(exception: unknown): MappedError {
  if (isEbbError(exception)) {
    const status = EBB_ERROR_STATUS[exception.code];
    if (status >= 500 && exception.code === "internal") return unexpected();
    return {
      status,
      code: exception.code,
      message: exception.message,
      details: exception.details ?? null,
      // A failing readiness probe answers `unavailable` every few seconds: its caller logs, not us.
      severity: status >= 500 && exception.code !== "unavailable" ? "warn" : "none",
    };
  }
  if (exception instanceof RequestValidationError) return invalidRequest(exception);
  if (exception instanceof z.core.$ZodError) return invalidRequest(RequestValidationError.fromZod(exception));
  // Nest's Express adapter turns body-parser failures (malformed JSON, a body too large) into these.
  if (exception instanceof HttpException) return fromHttpException(exception);
  return unexpected();
}

function invalidRequest(error: RequestValidationError): MappedError {
  return {
    status: 400,
    code: "invalid_request",
    message: error.message,
    details: error.issues,
    severity: "none",
  };
}

/**
 * Framework exceptions (a 404 route, a body the JSON parser rejected, a pipe's refusal): our own code
 * throws EbbError. A body `{ message, details }` passes both through, and a `code` (snake case) replaces
 * the status's generic one. Not logged here: they describe the request, not a fault of ours.
 */
function fromHttpException(exception: HttpException): MappedError {
  const status = exception.getStatus();
  // A plain 500 is a bug however it was thrown.
  if (status === 500) return unexpected();
  const body = exception.getResponse();
  let message = exception.message;
  let details: unknown = null;
  let code = codeForHttpStatus(status);
  if (typeof body === "string") {
    message = body;
  } else if (typeof body === "object" && body !== null) {
    const {
      message: m,
      details: d,
      code: c,
    } = body as { message?: unknown; details?: unknown; code?: unknown };
    // Nest's own pipes put a list of messages here, one per invalid field.
    if (Array.isArray(m)) {
      message = m.map(String).join("; ");
      details = m;
    } else if (typeof m === "string") {
      message = m;
    }
    if (d !== undefined) details = d;
    if (typeof c === "string" && /^[a-z][a-z_]*$/.test(c)) code = c;
  }
  if (status === 400 && exception.cause instanceof SyntaxError) message = `malformed JSON body: ${message}`;
  return { status, code, message, details, severity: "none" };
}

function unexpected(): MappedError {
  const errorId = randomUUID();
  return {
    status: 500,
    code: "internal",
    message: `internal error (error id ${errorId}); the details are in the server log`,
    details: { errorId },
    severity: "error",
    errorId,
  };
}
