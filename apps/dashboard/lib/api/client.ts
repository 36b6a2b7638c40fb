import { apiErrorFrom } from "./errors";

/**
 * The dashboard's one way to call the API: same origin (`/api/v1/...`, forwarded by the route handler),
 * JSON in and out, the CSRF token on every state-changing request, errors as ApiError. A 401 anywhere
 * but on the login form means the session is gone: the browser goes to /login and comes back after.
 */

let csrfToken: string | null = null;

/** Set from the login answer and from /auth/me; cleared at logout. */
export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

const STATE_CHANGING = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export type Query = Record<string, string | number | boolean | undefined | null>;

export interface RequestOptions {
  body?: unknown;
  query?: Query;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** false on the login form and the session check, which handle a 401 themselves. */
  redirectOn401?: boolean;
}

export function apiPath(path: string, query?: Query): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v !== undefined && v !== null && v !== "") params.set(k, String(v));
  }
  const qs = params.toString();
  return `/api/v1${path}${qs ? `?${qs}` : ""}`;
}

export async function apiRequest<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json", ...opts.headers };
  if (opts.body !== undefined) headers["content-type"] = "application/json";
  if (STATE_CHANGING.has(method) && csrfToken) headers["x-csrf-token"] = csrfToken;
  const res = await fetch(apiPath(path, opts.query), {
    method,
    headers,
    credentials: "same-origin",
    cache: "no-store",
    ...(opts.body === undefined ? {} : { body: JSON.stringify(opts.body) }),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  const text = await res.text();
  if (!res.ok) {
    const err = apiErrorFrom(res.status, res.statusText, text);
    if (res.status === 401 && opts.redirectOn401 !== false) goToLogin();
    throw err;
  }
  return (text ? JSON.parse(text) : undefined) as T;
}

export function goToLogin(): void {
  if (typeof window === "undefined" || window.location.pathname === "/login") return;
  const back = `${window.location.pathname}${window.location.search}`;
  window.location.assign(`/login?next=${encodeURIComponent(back)}`);
}
