import { HttpException, HttpStatus } from "@nestjs/common";

/**
 * The auth answers, in the API's error shape (see common/error-mapping.ts: `code` replaces the status's
 * generic one). Messages never quote a credential.
 */
export function unauthenticated(
  message = "authentication required: send a bearer token or log in",
): HttpException {
  return new HttpException({ code: "unauthenticated", message, details: null }, HttpStatus.UNAUTHORIZED);
}

export function forbidden(message: string, details: unknown = null): HttpException {
  return new HttpException({ code: "forbidden", message, details }, HttpStatus.FORBIDDEN);
}

export function csrfFailed(message: string): HttpException {
  return new HttpException({ code: "csrf_failed", message, details: null }, HttpStatus.FORBIDDEN);
}

export function tooManyRequests(message: string, retryAfterSeconds: number): HttpException {
  return new HttpException(
    { code: "too_many_requests", message, details: { retryAfterSeconds } },
    HttpStatus.TOO_MANY_REQUESTS,
  );
}
