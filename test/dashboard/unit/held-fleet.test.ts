import { describe, expect, it } from "vitest";
import { holdText } from "../../../apps/dashboard/features/fleets/held.js";

describe("a held fleet's banner", () => {
  it("says why the rollout stopped and each held target's state, the balancer's view included", () => {
    const text = holdText({
      fleet: "lab",
      rolloutId: "cbb8f1a0-0000-4000-8000-000000000000",
      status: "failed",
      version: "2.0.0",
      failure: { target: "vm2", step: "deploy", message: "deploy exited 1 on vm2" },
      targets: [
        {
          name: "vm2",
          status: "failed",
          step: "deploy",
          error: "exit 1",
          balancer: { state: "failed", bound: false },
        },
        { name: "vm3", status: "pending", step: null, error: null, balancer: null },
      ],
      release: [],
    });
    expect(text).toEqual({
      why: "failed at vm2 deploy: deploy exited 1 on vm2",
      targets: "vm2 failed (balancer: failed, unbound), vm3 pending",
    });
  });

  it("a paused one says paused", () => {
    expect(
      holdText({
        fleet: "lab",
        rolloutId: "cbb8f1a0-0000-4000-8000-000000000000",
        status: "paused",
        version: "2.0.0",
        failure: null,
        targets: [
          {
            name: "vm1",
            status: "held",
            step: "deploy",
            error: null,
            balancer: { state: "up", bound: true },
          },
        ],
        release: [],
      }).why,
    ).toBe("paused");
  });
});
