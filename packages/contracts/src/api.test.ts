import { ROLLOUT_STATUSES as CORE_ROLLOUT, TARGET_RUN_STATUSES as CORE_TARGET } from "@ebb/core";
import { describe, expect, it } from "vitest";
import { createRolloutBodySchema, ROLLOUT_STATUSES, rolloutSchema, TARGET_RUN_STATUSES } from "./index.js";

function issuePaths(input: unknown): string[] {
  const parsed = createRolloutBodySchema.safeParse(input);
  return parsed.success ? [] : parsed.error.issues.map((i) => i.path.join("."));
}

describe("createRolloutBodySchema", () => {
  it("accepts the documented minimal body; the runbook defaults by the fleet's balancer, in the API", () => {
    expect(createRolloutBodySchema.parse({ fleet: "lab", version: "2.0.0" })).toEqual({
      fleet: "lab",
      version: "2.0.0",
    });
  });

  it("accepts counts and percentages for the strategy, and string params", () => {
    const body = {
      fleet: "lab",
      version: "1.2.3+build.7",
      runbook: "l4-drain-l4check",
      batchSize: "25%",
      maxUnavailable: 1,
      minHealthy: "50%",
      maxSurge: "25%",
      params: { ARTIFACT_URL: "https://example.test/a.tgz" },
    };
    expect(createRolloutBodySchema.parse(body)).toEqual(body);
  });

  it("names the bad field", () => {
    expect(issuePaths({ fleet: "lab", version: "-2.0" })).toEqual(["version"]);
    expect(issuePaths({ fleet: "lab", version: "2.0 beta" })).toEqual(["version"]);
    expect(issuePaths({ fleet: "lab", version: "v".repeat(65) })).toEqual(["version"]);
    expect(issuePaths({ fleet: "", version: "2" })).toEqual(["fleet"]);
    expect(issuePaths({ version: "2" })).toEqual(["fleet"]);
    expect(issuePaths({ fleet: "lab", version: "2", batchSize: "quarter" })).toEqual(["batchSize"]);
    expect(issuePaths({ fleet: "lab", version: "2", maxUnavailable: -1 })).toEqual(["maxUnavailable"]);
    expect(issuePaths({ fleet: "lab", version: "2", maxSurge: "one" })).toEqual(["maxSurge"]);
    expect(issuePaths({ fleet: "lab", version: "2", params: { N: 3 } })).toEqual(["params.N"]);
  });

  it("rejects unknown fields instead of ignoring a typo", () => {
    const parsed = createRolloutBodySchema.safeParse({ fleet: "lab", version: "2", batchsize: 2 });
    expect(parsed.success).toBe(false);
    expect(JSON.stringify(parsed.error?.issues)).toContain("batchsize");
  });
});

describe("rolloutSchema", () => {
  it("parses a read model as the API serialises it", () => {
    const now = new Date().toJSON();
    const view = {
      id: "5b7f3c1e-8a9d-4f2b-9c3e-1d2a3b4c5d6e",
      status: "running",
      fleet: "lab",
      runbook: "l4-drain",
      version: "2.0.0",
      createdAt: now,
      startedAt: now,
      finishedAt: null,
      targets: [
        {
          name: "vm-1",
          batch: 0,
          status: "waiting",
          stepIndex: 1,
          step: "await-unbound",
          attempt: 1,
          error: null,
        },
      ],
    };
    expect(rolloutSchema.parse(view)).toEqual(view);
    expect(rolloutSchema.safeParse({ ...view, status: "done" }).success).toBe(false);
  });

  it("keeps its status lists equal to @ebb/core's", () => {
    expect([...ROLLOUT_STATUSES]).toEqual([...CORE_ROLLOUT]);
    expect([...TARGET_RUN_STATUSES]).toEqual([...CORE_TARGET]);
  });
});
