import type { ErrorKind } from "./types.js";

/** Raised by the load client itself when a request outlives its deadline. */
export class RequestTimeoutError extends Error {
  readonly code = "ETIMEOUT_REQUEST";
  constructor(readonly timeoutMs: number) {
    super(`no complete response within ${timeoutMs} ms`);
    this.name = "RequestTimeoutError";
  }
}

/** Where the error surfaced: on the request (before/without a response) or on the response body stream. */
export type ErrorPhase = "request" | "response";

// Node's own codes for a connection that ended without a RST: the peer sent FIN mid-message.
const CLOSED_CODES = new Set(["EPIPE", "ERR_STREAM_PREMATURE_CLOSE", "HPE_INVALID_EOF_STATE"]);

export function classifyStatus(status: number): ErrorKind | null {
  if (status >= 500) return "http5xx";
  if (status >= 400) return "http4xx";
  return null;
}

/**
 * Maps a client-side failure to its kind. Exhaustive by construction: whatever is not recognised is
 * "other", so an unknown failure is still counted as an error, never lost.
 */
export function classifyError(err: unknown, phase: ErrorPhase): ErrorKind {
  if (err instanceof RequestTimeoutError) return "timeout";
  const code = errorCode(err);
  if (code === "ECONNREFUSED") return "refused";
  if (code === "ECONNRESET") {
    // A RST is reported on the request first ("read ECONNRESET"); when the response stream is the first to
    // fail with "aborted", the socket ended cleanly (FIN) before the body was complete: a premature close.
    if (phase === "response" && errorMessage(err) === "aborted") return "closed";
    // Includes "socket hang up": the connection ended before any response arrived.
    return "rst";
  }
  if (code !== undefined && CLOSED_CODES.has(code)) return "closed";
  return "other";
}

export function errorCode(err: unknown): string | undefined {
  if (typeof err === "object" && err !== null && "code" in err && typeof err.code === "string")
    return err.code;
  return undefined;
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** "CODE: message" for samples, so the raw cause stays visible next to the kind it was given. */
export function describeError(err: unknown): string {
  const code = errorCode(err);
  const message = errorMessage(err);
  return code && !message.includes(code) ? `${code}: ${message}` : message;
}
