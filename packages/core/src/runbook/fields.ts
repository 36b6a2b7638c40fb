import { z } from "zod";
import { isEbbError } from "../errors.js";
import { ENV_NAME, isReservedEnvName } from "../param-names.js";
import { parseDuration } from "./duration.js";

/**
 * "30s" -> 30000. Parsed runbooks hold every duration in milliseconds; the YAML holds the readable
 * form. Numbers are accepted by the schema only to explain that a unit is missing.
 */
export const durationField = z.union([z.string(), z.number()]).transform((input, ctx) => {
  try {
    return parseDuration(String(input));
  } catch (error) {
    ctx.addIssue({ code: "custom", message: isEbbError(error) ? error.message : String(error) });
    return z.NEVER;
  }
});

/** A duration that must be > 0 (a hold time, a sleep). */
export const positiveDurationField = durationField.refine((ms) => ms > 0, "must be longer than 0");

/** YAML turns `PORT: 8080` into a number; environment values are strings anyway. */
export const scalarString = z.union([z.string(), z.number(), z.boolean()]).transform(String);

export const STEP_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;

export const envField = z
  .record(z.string().regex(ENV_NAME, "is not a valid environment variable name"), scalarString)
  .superRefine((env, ctx) => {
    for (const name of Object.keys(env)) {
      if (isReservedEnvName(name)) {
        ctx.addIssue({
          code: "custom",
          path: [name],
          message: `${name} is set by Ebb itself (EBB_TARGET_*, EBB_VERSION, EBB_ROLLOUT_ID, EBB_PARAM_*)`,
        });
      }
    }
  });
