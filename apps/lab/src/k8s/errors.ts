/** A failure the API server answers with a `Status` object, as kubectl and client-node expect it. */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: { name?: string; group?: string; kind?: string; causes?: unknown[] },
  ) {
    super(message);
    this.name = "ApiError";
  }

  status(): Record<string, unknown> {
    return {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: this.message,
      reason: this.reason,
      ...(this.details ? { details: this.details } : {}),
      code: this.code,
    };
  }
}

export function notFound(plural: string, group: string, name: string): ApiError {
  const what = group ? `${plural}.${group}` : plural;
  return new ApiError(404, "NotFound", `${what} "${name}" not found`, { name, group, kind: plural });
}

export function alreadyExists(plural: string, group: string, name: string): ApiError {
  const what = group ? `${plural}.${group}` : plural;
  return new ApiError(409, "AlreadyExists", `${what} "${name}" already exists`, {
    name,
    group,
    kind: plural,
  });
}

export function conflict(plural: string, group: string, name: string, why: string): ApiError {
  const what = group ? `${plural}.${group}` : plural;
  return new ApiError(409, "Conflict", `Operation cannot be fulfilled on ${what} "${name}": ${why}`, {
    name,
    group,
    kind: plural,
  });
}

export function badRequest(message: string): ApiError {
  return new ApiError(400, "BadRequest", message);
}

export function invalid(kind: string, name: string, field: string, why: string): ApiError {
  return new ApiError(422, "Invalid", `${kind} "${name}" is invalid: ${field}: ${why}`, {
    name,
    kind,
    causes: [{ reason: "FieldValueInvalid", message: why, field }],
  });
}

/** 410: the watch asked for history the server no longer has; informers relist. */
export function expired(rv: string, oldest: number): ApiError {
  return new ApiError(410, "Expired", `too old resource version: ${rv} (${oldest})`);
}
