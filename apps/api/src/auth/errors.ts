import { EbbError } from "@ebb/core";

/**
 * The auth answers, as domain errors (common/error-status.ts gives each code its HTTP status). Messages
 * never quote a credential.
 */
export function unauthenticated(
  message = "authentication required: send a bearer token or log in",
): EbbError {
  return new EbbError("unauthenticated", message);
}

export function forbidden(message: string, details: unknown = null): EbbError {
  return new EbbError("forbidden", message, { details });
}

export function csrfFailed(message: string): EbbError {
  return new EbbError("csrf_failed", message);
}

export function tooManyRequests(message: string, retryAfterSeconds: number): EbbError {
  return new EbbError("too_many_requests", message, { details: { retryAfterSeconds } });
}
