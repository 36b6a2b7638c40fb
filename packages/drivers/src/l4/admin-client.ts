import { EbbError } from "@ebb/core";
import type { z } from "zod";
import { deviceErrorSchema } from "./schemas.js";

export const DEFAULT_REQUEST_TIMEOUT_MS = 5000;

/** Turns a 404 into the caller's error (an unknown server is not an unavailable device). */
export type NotFound = (message: string) => EbbError;

/**
 * JSON over HTTP to the device's admin API. Every failure becomes an EbbError: network errors, timeouts
 * and 5xx are `balancer_unavailable` (retryable); an answer the driver cannot understand is
 * `balancer_unavailable` too, but not retryable, since asking again will not make it understandable.
 */
export class AdminClient {
  readonly baseUrl: string;

  constructor(
    adminUrl: string,
    readonly requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS,
  ) {
    let url: URL;
    try {
      url = new URL(adminUrl);
    } catch (err) {
      throw new EbbError("param_invalid", `adminUrl ${JSON.stringify(adminUrl)} is not a URL`, {
        cause: err,
      });
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new EbbError("param_invalid", `adminUrl must be http(s), got ${url.protocol}`);
    }
    this.baseUrl = url.href.replace(/\/+$/, "");
  }

  get<T>(path: string, schema: z.ZodType<T>, notFound?: NotFound): Promise<T> {
    return this.request("GET", path, schema, notFound);
  }

  post<T>(path: string, schema: z.ZodType<T>, notFound?: NotFound): Promise<T> {
    return this.request("POST", path, schema, notFound);
  }

  private async request<T>(
    method: string,
    path: string,
    schema: z.ZodType<T>,
    notFound?: NotFound,
  ): Promise<T> {
    const what = `${method} ${this.baseUrl}${path}`;
    let res: Response;
    let text: string;
    try {
      res = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: { accept: "application/json" },
        signal: AbortSignal.timeout(this.requestTimeoutMs),
      });
      text = await res.text();
    } catch (err) {
      const reason =
        err instanceof Error && err.name === "TimeoutError"
          ? `no answer within ${this.requestTimeoutMs} ms`
          : describeNetworkError(err);
      throw new EbbError("balancer_unavailable", `L4 device unreachable: ${what}: ${reason}`, { cause: err });
    }
    if (!res.ok) {
      const message = deviceMessage(text) ?? `HTTP ${res.status}`;
      if (res.status === 404 && notFound) throw notFound(message);
      throw new EbbError("balancer_unavailable", `L4 device refused ${what}: ${res.status} ${message}`, {
        retryable: res.status >= 500,
        details: { status: res.status },
      });
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (err) {
      throw unexpected(what, "not JSON", err);
    }
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      const first = parsed.error.issues[0];
      const where = first ? `${first.path.join(".") || "(root)"}: ${first.message}` : "invalid";
      throw unexpected(what, `unexpected shape (${where})`, parsed.error);
    }
    return parsed.data;
  }
}

function unexpected(what: string, reason: string, cause: unknown): EbbError {
  return new EbbError("balancer_unavailable", `L4 device answer to ${what}: ${reason}; is adminUrl right?`, {
    retryable: false,
    cause,
  });
}

function deviceMessage(text: string): string | undefined {
  try {
    const parsed = deviceErrorSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data.error.message : undefined;
  } catch {
    return undefined;
  }
}

/** fetch() hides the socket error (ECONNREFUSED...) in `cause`; that is the useful part. */
export function describeNetworkError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause;
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    return code ? `${code} (${cause.message})` : cause.message;
  }
  return err.message;
}
