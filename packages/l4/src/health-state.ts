import type { Health } from "./types.js";

export interface HealthState {
  health: Health;
  /** Failed checks counted since the server became suspect. */
  failStreak: number;
}

/**
 * The vendor's check state machine: the first failure makes an up server suspect, `retryCount` further
 * failures (one per interval) fail it, and a single pass brings any state straight back to up.
 */
export function nextHealth(state: HealthState, ok: boolean, retryCount: number): HealthState {
  if (ok) return { health: "up", failStreak: 0 };
  switch (state.health) {
    case "up":
      return retryCount === 0 ? { health: "failed", failStreak: 0 } : { health: "suspect", failStreak: 0 };
    case "suspect": {
      const streak = state.failStreak + 1;
      return streak >= retryCount
        ? { health: "failed", failStreak: 0 }
        : { health: "suspect", failStreak: streak };
    }
    case "failed":
      return state;
  }
}
