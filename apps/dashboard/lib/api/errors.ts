/**
 * The API's error shape (`{ error: { code, message, details, requestId } }`) turned into one error class
 * the views can show: the message, and for `invalid_request` the problems keyed by field path so a form
 * can put each next to its input. Self-contained (no relative imports): unit-tested from test/dashboard.
 */

export interface FieldProblem {
  path: string;
  message: string;
}

export class ApiError extends Error {
  override readonly name = "ApiError";

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown,
    readonly requestId: string | null,
  ) {
    super(message);
  }

  /** `invalid_request` details as `{ path: message }`; the first message wins for a repeated path. */
  get fieldErrors(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const p of fieldProblems(this.details)) out[p.path] ??= p.message;
    return out;
  }

  /** Problems that name no field (an empty path), or the message when there are none. */
  get formMessage(): string {
    const general = fieldProblems(this.details).filter((p) => p.path === "");
    return general.length > 0 ? general.map((p) => p.message).join("; ") : this.message;
  }
}

export function fieldProblems(details: unknown): FieldProblem[] {
  if (!Array.isArray(details)) return [];
  return details.flatMap((d): FieldProblem[] => {
    if (typeof d !== "object" || d === null) return [];
    const { path, message } = d as { path?: unknown; message?: unknown };
    if (typeof message !== "string") return [];
    const p = Array.isArray(path) ? path.join(".") : typeof path === "string" ? path : "";
    return [{ path: p, message }];
  });
}

/**
 * Builds the ApiError of a non-2xx answer from its body text. A body that is not the API's shape (a proxy's
 * HTML error page, an empty 502) still yields an error that says what came back.
 */
export function apiErrorFrom(status: number, statusText: string, bodyText: string): ApiError {
  try {
    const parsed = JSON.parse(bodyText) as { error?: Record<string, unknown> };
    const e = parsed.error;
    if (e && typeof e.message === "string") {
      return new ApiError(
        status,
        typeof e.code === "string" ? e.code : `http_${status}`,
        e.message,
        e.details,
        typeof e.requestId === "string" ? e.requestId : null,
      );
    }
  } catch {
    // not JSON: fall through to the generic message below
  }
  const excerpt = bodyText.trim().slice(0, 200);
  return new ApiError(
    status,
    `http_${status}`,
    `the API answered ${status} ${statusText}${excerpt ? `: ${excerpt}` : ""}`.trim(),
    null,
    null,
  );
}

/** What to show for any error a call can throw: an ApiError's message, or a network failure's. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError)
    return err.requestId ? `${err.message} (request ${err.requestId})` : err.message;
  if (err instanceof Error) return `cannot reach the dashboard server: ${err.message}`;
  return String(err);
}
