/**
 * The closed set of domain error codes. The API maps each code to an HTTP status in one exception
 * filter; the worker uses `retryable` to decide between "schedule again" and "fail the step".
 */
export const ERROR_CODES = [
  "runbook_invalid",
  "plan_invalid",
  "param_invalid",
  "duration_invalid",
  "step_timeout",
  "step_failed",
  "exec_failed",
  "verify_failed",
  /**
   * A command that is not idempotent was launched by a worker that never reported (it crashed, or its
   * result was lost): Ebb does not run it again blindly. `retry` runs it again, `skip` counts it as done.
   */
  "outcome_unknown",
  /** The balancer counted client errors (resets) for a target during its drain and the runbook forbids any. */
  "client_errors",
  /** An `analysis` step saw the target on the new version do worse than its thresholds (or saw nothing). */
  "analysis_failed",
  "lease_lost",
  /**
   * A rollback cannot be planned: a target's previous version is unknown, the targets ran different ones,
   * or the rollout is not in a state that can be rolled back.
   */
  "rollback_unavailable",
  "target_unhealthy",
  "balancer_unavailable",
  "executor_unavailable",
  "invalid_transition",
  /** A named resource (fleet, target, rollout, runbook) does not exist. */
  "not_found",
  /** The request contradicts current state: a target leased by another rollout, a duplicate name. */
  "conflict",
  /**
   * A target of the fleet is leased by another rollout; `details` names it, its status, the targets it
   * holds and how to release them (contracts' fleetHoldSchema).
   */
  "fleet_held",
  /** The same Idempotency-Key sent again for a different rollout: a client bug, never valid by waiting. */
  "idempotency_key_reused",
  /** No valid credential came with the request. */
  "unauthenticated",
  /** The caller is known but may not do this (scope, role, or approving their own rollout). */
  "forbidden",
  /** A cookie-authenticated, state-changing request without a valid CSRF token or from another site. */
  "csrf_failed",
  /** A limit per caller was reached (logins, rollouts a minute); `details.retryAfterSeconds` says when. */
  "too_many_requests",
  /** Ebb itself cannot serve now (its database or queue does not answer): try again later. */
  "unavailable",
  "internal",
] as const;

export type EbbErrorCode = (typeof ERROR_CODES)[number];

/**
 * Codes that describe a transient condition: trying the same thing again later may succeed.
 * Bad input (runbook, plan, params) never becomes valid by waiting, and a lost lease means another
 * worker owns the target now, so retrying would act on a target we no longer hold.
 */
const RETRYABLE_BY_DEFAULT: ReadonlySet<EbbErrorCode> = new Set([
  "balancer_unavailable",
  "executor_unavailable",
  "step_timeout",
  "too_many_requests",
  "unavailable",
]);

export interface EbbErrorOptions {
  /** Overrides the code's default. */
  retryable?: boolean;
  /** The original error, kept for logs and stack traces. */
  cause?: unknown;
  /** Structured detail for clients (e.g. the list of runbook issues). Must hold no secrets. */
  details?: unknown;
}

export class EbbError extends Error {
  override readonly name = "EbbError";
  readonly code: EbbErrorCode;
  readonly retryable: boolean;
  readonly details: unknown;

  constructor(code: EbbErrorCode, message: string, options: EbbErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? RETRYABLE_BY_DEFAULT.has(code);
    this.details = options.details;
  }
}

export function isEbbError(value: unknown, code?: EbbErrorCode): value is EbbError {
  return value instanceof EbbError && (code === undefined || value.code === code);
}

/** Used at the end of every exhaustive switch: adding a union member without handling it fails the type check. */
export function assertNever(value: never, what = "value"): never {
  throw new EbbError("internal", `unhandled ${what}: ${JSON.stringify(value)}`);
}
