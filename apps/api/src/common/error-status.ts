import type { EbbErrorCode } from "@ebb/core";

/**
 * HTTP status of each domain error code. A Record, so a code added to @ebb/core without a status here
 * fails the type check instead of silently becoming a 500.
 */
export const EBB_ERROR_STATUS: Readonly<Record<EbbErrorCode, number>> = {
  // The caller sent something that will never be valid: fix the request.
  runbook_invalid: 400,
  plan_invalid: 400,
  param_invalid: 400,
  duration_invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  csrf_failed: 403,
  not_found: 404,
  // Valid, but not now: the current state forbids it (a leased target, a finished rollout).
  conflict: 409,
  fleet_held: 409,
  invalid_transition: 409,
  lease_lost: 409,
  target_unhealthy: 409,
  // Well-formed, but it contradicts what the same key asked for first.
  idempotency_key_reused: 422,
  rollback_unavailable: 422,
  too_many_requests: 429,
  // Something we depend on failed or is unreachable: the request may succeed later.
  exec_failed: 502,
  step_failed: 502,
  verify_failed: 502,
  client_errors: 502,
  outcome_unknown: 502,
  analysis_failed: 502,
  balancer_unavailable: 503,
  executor_unavailable: 503,
  unavailable: 503,
  step_timeout: 504,
  internal: 500,
};

/** Codes for HTTP-level failures that are not domain errors (routing, parsing, framework exceptions). */
const HTTP_STATUS_CODE: Readonly<Record<number, string>> = {
  400: "bad_request",
  // The caller is not identified (no, or no valid, credential); 403 is for an identified caller.
  401: "unauthenticated",
  403: "forbidden",
  404: "not_found",
  405: "method_not_allowed",
  406: "not_acceptable",
  408: "request_timeout",
  409: "conflict",
  413: "payload_too_large",
  415: "unsupported_media_type",
  422: "unprocessable_entity",
  429: "too_many_requests",
  500: "internal",
  501: "not_implemented",
  502: "bad_gateway",
  503: "unavailable",
  504: "gateway_timeout",
};

export function codeForHttpStatus(status: number): string {
  return HTTP_STATUS_CODE[status] ?? (status >= 500 ? "internal" : "bad_request");
}
