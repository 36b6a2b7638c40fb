import { EbbError } from "./errors.js";

/**
 * A secret parameter's value may be a reference instead of the secret: `secret:env:NAME` (a variable of
 * the worker's environment) or `secret:file:/absolute/path` (a file on the worker's host, trailing newline
 * dropped). The rollout stores, shows and audits only the reference; the worker resolves it when it
 * builds a command's environment, so the value never reaches the database, Redis, a job or an answer.
 */
export type SecretRef = { source: "env"; name: string } | { source: "file"; path: string };

/** How the worker reads a reference; core reads no environment or file itself. */
export type SecretResolver = (ref: SecretRef) => string | undefined;

const REF = /^secret:(env|file):(.*)$/s;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

let resolver: SecretResolver | undefined;

/**
 * Installed once by the worker process at start (apps/api bootstrap). A process without one (the API
 * role) refuses to resolve: only a worker ever holds the value.
 */
export function setSecretResolver(next: SecretResolver | undefined): void {
  resolver = next;
}

export function isSecretRef(value: string): boolean {
  return value.startsWith("secret:");
}

/** The reference in a value, or why it is not a usable one. */
export function parseSecretRef(value: string): SecretRef | { problem: string } {
  const m = REF.exec(value);
  if (!m) return { problem: "is not a secret reference (secret:env:NAME or secret:file:/absolute/path)" };
  const [, source, rest = ""] = m;
  if (source === "env") {
    return ENV_NAME.test(rest)
      ? { source, name: rest }
      : { problem: `secret:env: ${JSON.stringify(rest)} is not a variable name` };
  }
  return rest.startsWith("/") && !rest.includes("\0")
    ? { source: "file", path: rest }
    : { problem: "secret:file: needs an absolute path" };
}

/** The value behind a reference; an error naming the parameter (never a value) when it cannot be read. */
export function resolveSecretRef(param: string, value: string): string {
  return resolveSecretAt(`params.${param}`, value);
}

/** resolveSecretRef for a reference held elsewhere than a parameter (`field` names it in errors). */
export function resolveSecretAt(field: string, value: string): string {
  const ref = parseSecretRef(value);
  if ("problem" in ref) throw new EbbError("param_invalid", `${field} ${ref.problem}`);
  const where = ref.source === "env" ? `variable ${ref.name}` : `file ${ref.path}`;
  if (resolver === undefined)
    throw new EbbError("param_invalid", `${field}: secret references are resolved by a worker only`);
  let resolved: string | undefined;
  try {
    resolved = resolver(ref);
  } catch (error) {
    throw new EbbError("param_invalid", `${field}: cannot read the secret's ${where}`, {
      cause: error,
    });
  }
  if (resolved === undefined || resolved === "")
    throw new EbbError("param_invalid", `${field}: the secret's ${where} is not set on this worker`);
  return resolved;
}
