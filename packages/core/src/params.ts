import { EbbError } from "./errors.js";
import { ENV_NAME, isReservedEnvName, PARAM_NAME, paramEnvName } from "./param-names.js";
import { compilePattern } from "./runbook/safe-pattern.js";
import type { ParamSpec } from "./runbook/schema.js";
import { isSecretRef, parseSecretRef, resolveSecretRef } from "./secret-ref.js";
import { renderTemplate, type TemplateContext, TemplateError } from "./template.js";

export * from "./param-names.js";

const MAX_VALUE_LENGTH = 4096;

/**
 * Parameters reach commands ONLY as environment variables. This module is the single place that
 * builds a command's environment; nothing splices a parameter into argv or shell text, so a value
 * such as `1.2.3; rm -rf /` stays an inert string.
 */

export type ParamSpecs = Readonly<Record<string, ParamSpec>>;

/**
 * Supplied values + declared defaults -> the full parameter set (without `version`). Unknown names,
 * missing required values, NUL bytes (which an environment cannot carry) and pattern mismatches are
 * refused with an error naming the parameter.
 */
export function resolveParams(
  specs: ParamSpecs | undefined,
  supplied: Readonly<Record<string, string>> = {},
): Record<string, string> {
  const declared = specs ?? {};
  const problems: { param: string; message: string }[] = [];
  for (const name of Object.keys(supplied)) {
    if (!Object.hasOwn(declared, name))
      problems.push({ param: name, message: "is not declared by the runbook" });
  }
  const resolved: Record<string, string> = {};
  for (const [name, spec] of Object.entries(declared)) {
    const value = Object.hasOwn(supplied, name) ? supplied[name] : spec.default;
    if (value === undefined) {
      problems.push({ param: name, message: "is required (no default)" });
      continue;
    }
    const problem =
      valueProblem(value) ??
      (isSecretRef(value) ? secretRefProblem(value, spec) : patternProblem(value, spec));
    if (problem !== undefined) {
      problems.push({ param: name, message: problem });
      continue;
    }
    resolved[name] = value;
  }
  if (problems.length > 0) {
    const text = problems.map((p) => `params.${p.param} ${p.message}`).join("; ");
    throw new EbbError("param_invalid", text, { details: problems });
  }
  return resolved;
}

export interface CommandEnvInput {
  rolloutId: string;
  version: string;
  target: { name: string; host: string; port: number };
  /** Resolved parameters (see resolveParams), without `version`. */
  params: Readonly<Record<string, string>>;
  /** The runbook's `env` merged with the step's `env`; values may hold `${params.x}` / `${target.x}`. */
  env?: Readonly<Record<string, string>>;
}

/**
 * The environment of one exec step: `EBB_PARAM_<NAME>` for every parameter, the fixed EBB_TARGET_*,
 * EBB_VERSION and EBB_ROLLOUT_ID, and the step's own variables with references expanded. The executor
 * adds its base environment (PATH, HOME); this returns only what Ebb contributes.
 */
export function buildCommandEnv(input: CommandEnvInput): Record<string, string> {
  const versionProblem = valueProblem(input.version);
  if (versionProblem !== undefined) throw new EbbError("param_invalid", `version ${versionProblem}`);
  // resolveParams lets references through for secret parameters only; they become values here, in the
  // worker, and nowhere else.
  const params: Record<string, string> = {};
  for (const [name, value] of Object.entries(input.params))
    params[name] = isSecretRef(value) ? resolveSecretRef(name, value) : value;
  const context: TemplateContext = {
    params: { ...params, version: input.version },
    target: input.target,
  };
  const env: Record<string, string> = {};
  for (const [name, template] of Object.entries(input.env ?? {})) {
    if (!ENV_NAME.test(name) || isReservedEnvName(name)) {
      throw new EbbError("param_invalid", `env.${name} is not an allowed variable name`);
    }
    env[name] = render(template, context, `env.${name}`);
  }
  for (const [name, value] of Object.entries(params)) {
    if (!PARAM_NAME.test(name)) throw new EbbError("param_invalid", `params.${name} is not a valid name`);
    env[paramEnvName(name)] = value;
  }
  env.EBB_TARGET_NAME = input.target.name;
  env.EBB_TARGET_HOST = input.target.host;
  env.EBB_TARGET_PORT = String(input.target.port);
  env.EBB_VERSION = input.version;
  env.EBB_ROLLOUT_ID = input.rolloutId;
  return env;
}

/** The values of secret parameters, for redact(). */
export function secretValues(
  specs: ParamSpecs | undefined,
  params: Readonly<Record<string, string>>,
): string[] {
  const values: string[] = [];
  for (const [name, spec] of Object.entries(specs ?? {})) {
    const value = params[name];
    if (!spec.secret || value === undefined || value === "") continue;
    values.push(value);
    if (isSecretRef(value)) {
      // What a command may print is the resolved value; one that cannot be resolved fails the step anyway.
      try {
        values.push(resolveSecretRef(name, value));
      } catch {}
    }
  }
  return values;
}

export const REDACTED = "[redacted]";

/** Masks every occurrence of a secret in text that may be logged, stored or shown. */
export function redact(text: string, secrets: readonly string[]): string {
  // Longest first, so a secret that contains another is masked whole.
  const ordered = [...new Set(secrets)].filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
  let out = text;
  for (const secret of ordered) out = out.split(secret).join(REDACTED);
  return out;
}

/** redact() over every value of an environment or parameter map. */
export function redactRecord(
  record: Readonly<Record<string, string>>,
  secrets: readonly string[],
): Record<string, string> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, redact(v, secrets)]));
}

function render(template: string, context: TemplateContext, field: string): string {
  try {
    return renderTemplate(template, context);
  } catch (error) {
    if (error instanceof TemplateError) {
      throw new EbbError("param_invalid", `${field}: ${error.message}`, { cause: error });
    }
    throw error;
  }
}

function valueProblem(value: string): string | undefined {
  if (value.includes("\0")) return "contains a NUL byte";
  if (value.length > MAX_VALUE_LENGTH) return `is longer than ${MAX_VALUE_LENGTH} characters`;
  return undefined;
}

function secretRefProblem(value: string, spec: ParamSpec): string | undefined {
  if (!spec.secret) return "is a secret reference, but the parameter is not declared secret: true";
  const ref = parseSecretRef(value);
  return "problem" in ref ? ref.problem : undefined;
}

function patternProblem(value: string, spec: ParamSpec): string | undefined {
  if (spec.pattern === undefined) return undefined;
  const re = compilePattern(spec.pattern);
  if (!re.ok) return `has an unusable pattern: ${re.message}`;
  return re.test(value) ? undefined : `does not match /${spec.pattern}/`;
}
