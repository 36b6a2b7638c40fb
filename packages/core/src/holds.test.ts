import { describe, expect, it } from "vitest";
import { releaseActions, waitsForPerson } from "./holds.js";

describe("a rollout holding targets", () => {
  it("waits for a person when failed or paused, not while it runs or once it is over", () => {
    expect(["failed", "paused"].every((s) => waitsForPerson(s as "failed"))).toBe(true);
    for (const s of ["pending", "running", "aborting", "aborted", "succeeded"] as const)
      expect(waitsForPerson(s)).toBe(false);
  });

  it("failed: retry each failed target, or abort", () => {
    expect(
      releaseActions("failed", [
        { name: "vm1", status: "succeeded" },
        { name: "vm2", status: "failed" },
        { name: "vm3", status: "pending" },
      ]),
    ).toEqual([{ action: "retry", target: "vm2" }, { action: "abort" }]);
  });

  it("paused: resume or abort; aborting or over: nothing to do", () => {
    expect(releaseActions("paused", [{ name: "vm1", status: "held" }])).toEqual([
      { action: "resume" },
      { action: "abort" },
    ]);
    expect(releaseActions("aborting", [{ name: "vm1", status: "restoring" }])).toEqual([]);
    expect(releaseActions("aborted", [])).toEqual([]);
  });
});
