/** The names of parameters and of the environment variables commands receive. */

/** snake_case, so the environment name `EBB_PARAM_<NAME>` is a plain upper-casing with no collisions. */
export const PARAM_NAME = /^[a-z][a-z0-9_]{0,62}$/;
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** `version` is the rollout's artifact version: always present, exported as EBB_VERSION only. */
export const BUILTIN_PARAMS = ["version"] as const;

/** Names Ebb sets itself; a runbook's `env` may not define them (it would shadow the real value). */
export const FIXED_ENV = [
  "EBB_TARGET_NAME",
  "EBB_TARGET_HOST",
  "EBB_TARGET_PORT",
  "EBB_VERSION",
  "EBB_ROLLOUT_ID",
] as const;
const PARAM_ENV_PREFIX = "EBB_PARAM_";

export function isReservedEnvName(name: string): boolean {
  return (FIXED_ENV as readonly string[]).includes(name) || name.startsWith(PARAM_ENV_PREFIX);
}

export function paramEnvName(param: string): string {
  return `${PARAM_ENV_PREFIX}${param.toUpperCase()}`;
}
