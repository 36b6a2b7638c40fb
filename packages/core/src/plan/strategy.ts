import { z } from "zod";
import { EbbError } from "../errors.js";

/** A count (2) or a share of the fleet ("25%"). */
const countOrPercent = z.union([
  z.number().int().min(0),
  z.string().regex(/^\d+(\.\d+)?%$/, 'must be a count (2) or a percentage ("25%")'),
]);

export const strategySchema = z.strictObject({
  /** Targets drained together. Default: as many as maxUnavailable allows. */
  batchSize: countOrPercent.optional(),
  /** Targets that may be out of service at once, INCLUDING those already out before the rollout. */
  maxUnavailable: countOrPercent,
  /** Targets that must stay in service at every moment. */
  minHealthy: countOrPercent.optional(),
  /**
   * Extra targets that may run during the rollout, above the fleet's size: a replacement starts before the
   * target it replaces is retired. Only a fleet whose platform creates targets can (a Deployment); 0 (the
   * default): a replacement starts once its target is gone.
   */
  maxSurge: countOrPercent.optional(),
});

export type Strategy = z.input<typeof strategySchema>;
export type CountOrPercent = z.input<typeof countOrPercent>;

export function parseStrategy(input: unknown): Strategy {
  const parsed = strategySchema.safeParse(input);
  if (parsed.success) return parsed.data;
  const text = parsed.error.issues.map((i) => `strategy.${i.path.join(".")}: ${i.message}`).join("; ");
  throw new EbbError("plan_invalid", text, { cause: parsed.error, details: parsed.error.issues });
}

/**
 * A percentage of `total`, rounded the safe way for its field: down for what may be taken away
 * (maxUnavailable: 25% of 3 targets is 0, not 1), up for what must remain (minHealthy) and for a
 * batch size (at least one target per batch). maxSurge rounds up, as Kubernetes rounds a Deployment's.
 */
export function resolveCount(
  value: CountOrPercent,
  total: number,
  rounding: "floor" | "ceil",
  field: string,
): number {
  if (typeof value === "number") return value;
  const percent = Number(value.slice(0, -1));
  if (percent > 100) throw new EbbError("plan_invalid", `strategy.${field}: ${value} is more than 100%`);
  const exact = (percent * total) / 100;
  // 1e-9 absorbs float noise such as 0.29 * 100 = 28.999999999999996.
  // ... and Math.max keeps "0%" rounded up at 0, not -0 (a plan's limits are compared and shown).
  return rounding === "floor" ? Math.floor(exact + 1e-9) : Math.max(0, Math.ceil(exact - 1e-9));
}
