/** One invalid field, named by its dotted path (e.g. `healthCheck.intervalSeconds`). */
export interface ConfigIssue {
  field: string;
  message: string;
}

/**
 * Bad configuration or server spec. `code` says how the admin API maps it: `invalid_config` (400) or
 * `conflict` (409, e.g. a duplicate server name).
 */
export class ConfigError extends Error {
  readonly code: "invalid_config" | "conflict";
  readonly issues: ConfigIssue[];

  constructor(issues: ConfigIssue[], opts: { code?: "invalid_config" | "conflict"; cause?: unknown } = {}) {
    const summary = issues.map((i) => (i.field ? `${i.field}: ${i.message}` : i.message)).join("; ");
    super(`invalid configuration: ${summary}`, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = "ConfigError";
    this.code = opts.code ?? "invalid_config";
    this.issues = issues;
  }
}

/** A real server name that is not in the binding list. */
export class UnknownServerError extends Error {
  readonly code = "not_found" as const;

  constructor(readonly serverName: string) {
    super(`no real server named ${JSON.stringify(serverName)}`);
    this.name = "UnknownServerError";
  }
}
