import { describe, expect, it } from "vitest";
import {
  allowedCommands,
  canApproveTarget,
  canRetryTarget,
} from "../../../apps/dashboard/features/rollouts/status.js";
import {
  buildTimeline,
  currentStep,
  percentAt,
  type StepLike,
  trafficMarkers,
} from "../../../apps/dashboard/features/rollouts/timeline.js";
import { can } from "../../../apps/dashboard/lib/scopes.js";

const T0 = Date.UTC(2026, 0, 1);
const iso = (ms: number | null) => (ms === null ? null : new Date(T0 + ms).toISOString());

function step(
  index: number,
  id: string,
  type: string,
  status: string,
  start: number | null,
  end: number | null,
  deadline: number | null = null,
  attempt = 1,
): StepLike {
  return {
    index,
    id,
    type,
    status,
    attempt,
    startedAt: iso(start),
    finishedAt: iso(end),
    deadlineAt: iso(deadline),
    error: null,
  };
}

const drained = [
  step(0, "fail-health-check", "exec", "succeeded", 0, 100),
  step(1, "await-unbound", "balancer.awaitUnbound", "succeeded", 100, 2_100, 5_000),
  step(2, "stop", "exec", "succeeded", 2_100, 2_400),
  step(3, "await-quiet", "traffic.awaitQuiet", "succeeded", 2_400, 2_450),
  step(4, "deploy", "exec", "running", 2_450, null, 40_000),
];

describe("the rollout timeline", () => {
  it("lays every step run of every target on one axis, the open step growing to now", () => {
    const tl = buildTimeline(
      [
        { name: "vm1", steps: drained },
        { name: "vm2", steps: [step(0, "fail-health-check", "exec", "pending", null, null)] },
      ],
      T0 + 3_000,
    );
    expect([tl.startMs - T0, tl.endMs - T0]).toEqual([0, 3_000]);
    expect(tl.rows.map((r) => r.bars.length)).toEqual([5, 0]);
    const deploy = tl.rows[0]!.bars[4]!;
    expect([deploy.open, deploy.endMs - T0, deploy.overdue]).toEqual([true, 3_000, false]);
    expect(percentAt(tl, T0 + 1_500)).toBe(50);
    expect(percentAt(tl, T0 + 9_000)).toBe(100);
  });

  it("marks a step that ran past its deadline", () => {
    const tl = buildTimeline(
      [
        {
          name: "vm1",
          steps: [step(1, "await-unbound", "balancer.awaitUnbound", "waiting", 0, null, 1_000)],
        },
      ],
      T0 + 1_500,
    );
    expect(tl.rows[0]!.bars[0]!.overdue).toBe(true);
  });

  it("gives an empty rollout a one-second axis instead of a zero-width one", () => {
    const tl = buildTimeline([{ name: "vm1" }], T0);
    expect(tl.endMs - tl.startMs).toBe(1_000);
  });

  it("names the current step with its elapsed time against its deadline", () => {
    const now = T0 + 12_450;
    expect(currentStep(drained, now)).toMatchObject({
      step: { id: "deploy" },
      elapsedMs: 10_000,
      budgetMs: 37_550,
    });
    expect(currentStep(drained.slice(0, 4), now)).toBeNull();
    const noDeadline = currentStep([step(0, "approve", "approval", "awaitingApproval", 0, null)], T0 + 5);
    expect([noDeadline?.budgetMs, noDeadline?.fraction]).toEqual([null, null]);
  });

  it("marks where the health check was failed, the device unbound the target, the stop, and the rebind", () => {
    const steps = [
      ...drained.slice(0, 4),
      step(4, "deploy", "exec", "succeeded", 2_450, 2_500),
      step(7, "await-bound", "balancer.awaitBound", "succeeded", 2_600, 2_900),
      // An earlier failed attempt of the stop: the latest attempt is the one that counts.
      step(2, "stop", "exec", "failed", 2_000, 2_050, null, 0),
    ];
    expect(trafficMarkers(steps).map((m) => [m.label, m.at - T0])).toEqual([
      ["fail-health-check", 100],
      ["unbound", 2_100],
      ["stop", 2_400],
      ["bound", 2_900],
    ]);
    expect(trafficMarkers(drained.slice(0, 2)).map((m) => m.label)).toEqual(["fail-health-check", "unbound"]);
  });
});

describe("what the rollout page offers", () => {
  it("pause while running, resume while paused, abort until it is over", () => {
    expect(allowedCommands("running")).toEqual({ pause: true, resume: false, abort: true });
    expect(allowedCommands("paused")).toEqual({ pause: false, resume: true, abort: true });
    expect(allowedCommands("failed")).toEqual({ pause: false, resume: false, abort: true });
    expect(allowedCommands("succeeded")).toEqual({ pause: false, resume: false, abort: false });
    expect(allowedCommands("aborting")).toEqual({ pause: false, resume: false, abort: false });
    expect([canRetryTarget("failed"), canRetryTarget("running")]).toEqual([true, false]);
    expect([canApproveTarget("awaitingApproval"), canApproveTarget("held")]).toEqual([true, false]);
  });

  it("only to roles that may: read sees, deploy steers, admin also edits runbooks", () => {
    expect([can("read", "triggerRollout"), can("read", "steerRollout")]).toEqual([false, false]);
    expect([can("deploy", "triggerRollout"), can("deploy", "editRunbooks")]).toEqual([true, false]);
    expect(can("admin", "editRunbooks")).toBe(true);
    expect(can(null, "triggerRollout")).toBe(false);
  });
});
