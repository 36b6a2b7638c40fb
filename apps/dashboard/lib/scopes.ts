/**
 * What each role may do in the dashboard. The API enforces the same ladder; the dashboard only uses it to
 * leave out controls a user could not use. Self-contained: unit-tested from test/dashboard.
 */

export type Scope = "read" | "deploy" | "admin";
const LADDER: readonly Scope[] = ["read", "deploy", "admin"];

export const ABILITIES = {
  /** Start a rollout (POST /rollouts). */
  triggerRollout: "deploy",
  /** Pause, resume, abort, retry, approve. */
  steerRollout: "deploy",
  /** Store a new runbook version. */
  editRunbooks: "admin",
  /** See webhooks and their deliveries (a webhook URL may be a credential: admin only, reads too). */
  manageWebhooks: "admin",
} as const satisfies Record<string, Scope>;

export type Ability = keyof typeof ABILITIES;

export function scopeAllows(held: Scope, needed: Scope): boolean {
  return LADDER.indexOf(held) >= LADDER.indexOf(needed);
}

export function can(held: Scope | null | undefined, ability: Ability): boolean {
  return held != null && scopeAllows(held, ABILITIES[ability]);
}
