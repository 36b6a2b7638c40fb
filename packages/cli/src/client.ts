import type { ApiErrorBody } from "@ebb/contracts";

/** Exit codes of `ebb`: what CI scripts branch on (documented in `ebb --help` and the README). */
export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  aborted: 3,
  /** No answer from EBB_URL (refused, DNS, TLS): retrying the job may help, the rollout did not fail. */
  unreachable: 4,
  /** 401/403: the token is missing, wrong, expired, revoked or lacks the scope. */
  unauthorised: 5,
  /** `--timeout` elapsed while waiting; the rollout itself goes on. */
  timeout: 6,
  /**
   * The rollout failed and Ebb rolled it back (`onFailure: rollback`, or `ebb rollout rollback`): its targets
   * run their previous version again. Not 0 (the new version is not out) and not 1 (nothing is left half done).
   */
  rolledBack: 7,
} as const;

/** Bad usage (exit 2): an unknown command, a missing flag, EBB_URL not a URL. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** The API answered with its error shape (or could not be reached). */
export class ApiError extends Error {
  override readonly name = "ApiError";
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
    readonly details: unknown = null,
  ) {
    super(message);
  }
}

export interface ClientOptions {
  /** e.g. http://127.0.0.1:4000 (the API's origin; /api/v1 is added) or http://host/api/v1. */
  url: string;
  token?: string;
  fetch?: typeof fetch;
}

/** A thin typed client of API v1: JSON in, JSON out, the API's error shape turned into ApiError. */
export class EbbClient {
  readonly base: string;
  private readonly token: string | undefined;
  private readonly fetchImpl: typeof fetch;

  constructor(opts: ClientOptions) {
    let url: URL;
    try {
      url = new URL(opts.url);
    } catch {
      throw new UsageError(`EBB_URL: "${opts.url}" is not a URL (e.g. http://127.0.0.1:4000)`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:")
      throw new UsageError(`EBB_URL: must start with http:// or https:// (got ${url.protocol})`);
    const path = url.pathname.replace(/\/+$/, "");
    this.base = `${url.origin}${path.endsWith("/api/v1") ? path : `${path}/api/v1`}`;
    this.token = opts.token;
    this.fetchImpl = opts.fetch ?? fetch;
  }

  headers(extra: Record<string, string> = {}): Record<string, string> {
    return {
      "user-agent": "ebb-cli",
      ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
      ...extra,
    };
  }

  async request<T>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<T> {
    let res: Response;
    try {
      res = await this.fetchImpl(`${this.base}${path}`, {
        method,
        headers: this.headers(
          body === undefined ? headers : { "content-type": "application/json", ...headers },
        ),
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (err) {
      throw new ApiError(`cannot reach the Ebb API at ${this.base}: ${describe(err)}`, 0, "unreachable");
    }
    const text = await res.text();
    if (!res.ok) {
      let parsed: ApiErrorBody | undefined;
      try {
        parsed = JSON.parse(text) as ApiErrorBody;
      } catch {
        parsed = undefined;
      }
      const e = parsed?.error;
      throw new ApiError(
        e
          ? `${e.message} (${res.status} ${e.code}, request ${e.requestId})`
          : `${res.status} ${text.slice(0, 200)}`,
        res.status,
        e?.code ?? "http_error",
        e?.details ?? null,
      );
    }
    return (text ? JSON.parse(text) : undefined) as T;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>("GET", path);
  }

  post<T>(path: string, body: unknown = {}, headers?: Record<string, string>): Promise<T> {
    return this.request<T>("POST", path, body, headers);
  }

  raw(path: string, init: RequestInit = {}): Promise<Response> {
    return this.fetchImpl(`${this.base}${path}`, {
      ...init,
      headers: this.headers(init.headers as Record<string, string>),
    });
  }
}

export function describe(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return cause?.code ?? cause?.message ?? err.message;
  }
  return String(err);
}
