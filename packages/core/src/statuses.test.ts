import { describe, expect, it } from "vitest";
import {
  BALANCER_TARGET_STATES,
  isActive,
  isBound,
  isOutOfService,
  isTerminal,
  ROLLOUT_STATUSES,
  TARGET_RUN_STATUSES,
} from "./statuses.js";

describe("status predicates", () => {
  it("terminal rollout statuses are exactly the ones clients stop polling on", () => {
    expect(ROLLOUT_STATUSES.filter(isTerminal)).toEqual(["succeeded", "failed", "aborted", "rolled_back"]);
  });

  it("a suspect target is still bound; unknown counts as out of service for capacity", () => {
    expect(BALANCER_TARGET_STATES.filter(isBound)).toEqual(["up", "suspect"]);
    expect(BALANCER_TARGET_STATES.filter(isOutOfService)).toEqual(["failed", "disabled", "unknown"]);
  });

  it("active target runs are those that may hold a lease", () => {
    expect(TARGET_RUN_STATUSES.filter(isActive)).toEqual([
      "running",
      "waiting",
      "awaitingApproval",
      "held",
      "failed",
      "restoring",
    ]);
  });
});
