import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { buildJob, JOB_NAMES, JobPayloadError, jobId, parseJob, QUEUES } from "./index.js";

const rolloutId = randomUUID();
const step = { rolloutId, target: "vm-1", stepIndex: 2, attempt: 1, leaseToken: "9007199254740993" };

describe("parseJob", () => {
  it("returns the typed payload of a valid job", () => {
    expect(parseJob("step.run", step)).toEqual(step);
    expect(parseJob("rollouts.reconcile", {})).toEqual({});
  });

  it("names the job and every bad field", () => {
    const bad = { ...step, stepIndex: 1.5, leaseToken: 42 };
    expect(() => parseJob("step.run", bad)).toThrow(JobPayloadError);
    try {
      parseJob("step.run", bad);
    } catch (err) {
      const e = err as JobPayloadError;
      expect(e.message).toContain("invalid step.run payload");
      expect(e.message).toMatch(/stepIndex: /);
      expect(e.message).toMatch(/leaseToken: /);
      expect(e.jobName).toBe("step.run");
      expect(e.cause).toBeDefined();
    }
  });

  it("rejects a missing field, an extra field and a non-uuid rollout id", () => {
    const { target: _omit, ...noTarget } = step;
    expect(() => parseJob("step.run", noTarget)).toThrow(/target: /);
    expect(() => parseJob("rollout.restore", { rolloutId, target: "vm-1", extra: 1 })).toThrow(/extra/);
    expect(() => parseJob("approval.timeout", { ...step, rolloutId: "r1" })).toThrow(/rolloutId: /);
  });

  it("rejects an unknown job name, listing the known ones", () => {
    expect(() => parseJob("step.walk", step)).toThrow(/unknown job "step.walk".*step\.run/);
  });
});

describe("jobId", () => {
  it("is deterministic and made of the identifying fields only", () => {
    const id = jobId("step.run", step);
    expect(id).toBe(`step.run~${rolloutId}~vm-1~2~1`);
    // The lease token is not part of the identity: a re-add with a newer token is the same job.
    expect(jobId("step.run", { ...step, leaseToken: "7" })).toBe(id);
    expect(jobId("step.run", { ...step, attempt: 2 })).not.toBe(id);
    expect(jobId("rollouts.reconcile", {})).toBe("rollouts.reconcile");
  });

  it("never contains ':' and cannot be made ambiguous by a target name", () => {
    const a = jobId("rollout.restore", { rolloutId, target: "web:8080" });
    expect(a).not.toContain(":");
    const b = jobId("rollout.restore", { rolloutId, target: "a~b" });
    expect(b.split("~")).toHaveLength(3);
    expect(b).toContain("a%7Eb");
  });

  it("validates the payload it is given", () => {
    expect(() => jobId("step.run", { ...step, attempt: 0 })).toThrow(/attempt: /);
  });
});

describe("buildJob", () => {
  it("attaches the queue, the catalog defaults and the id", () => {
    const job = buildJob(
      "approval.timeout",
      { rolloutId, target: "vm-2", stepIndex: 4, attempt: 1 },
      { delay: 500 },
    );
    expect(job.queue).toBe(QUEUES.rollout);
    expect(job.opts.jobId).toBe(`approval.timeout~${rolloutId}~vm-2~4~1`);
    expect(job.opts.delay).toBe(500);
    expect(job.opts.attempts).toBeGreaterThan(0);
  });

  it("covers every job of the catalog", () => {
    expect(JOB_NAMES.sort()).toEqual([
      "approval.timeout",
      "rollout.restore",
      "rollouts.reconcile",
      "step.run",
    ]);
  });
});
