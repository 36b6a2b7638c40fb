import { describe, expect, it } from "vitest";
import { canRollBack, isTerminal } from "../../../apps/dashboard/features/rollouts/status.js";

describe("the rollout page's Roll back button", () => {
  it("is offered for a finished rollout not rolled back yet, never while it runs or after a rollback", () => {
    for (const status of ["succeeded", "failed", "aborted"]) expect(canRollBack(status, null)).toBe(true);
    for (const status of ["pending", "running", "paused", "aborting", "rolling_back", "rolled_back"])
      expect(canRollBack(status, null), status).toBe(false);
    // A failed rollback leaves the original failed, linked: the button does not offer a second one.
    expect(canRollBack("failed", "9d0c3f8e-0000-4000-8000-000000000000")).toBe(false);
  });

  it("counts rolled_back as over (the summary shows, the stream stops)", () => {
    expect(isTerminal("rolled_back")).toBe(true);
    expect(isTerminal("rolling_back")).toBe(false);
  });
});
