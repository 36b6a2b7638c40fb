import { WaitTimeoutError, waitFor } from "@ebb/testkit";
import { describe, expect, it } from "vitest";

describe("waitFor", () => {
  it("returns the first truthy value", async () => {
    let n = 0;
    await expect(waitFor(() => (++n >= 3 ? n : 0), { intervalMs: 1 })).resolves.toBe(3);
  });
  it("fails with what it waited for when the deadline passes", async () => {
    await expect(waitFor(() => false, { timeoutMs: 30, intervalMs: 5, what: "the moon" })).rejects.toThrow(
      WaitTimeoutError,
    );
  });
});
