import type { LoadGenerator } from "@ebb/lab";
import { vmStatus } from "@ebb/lab";
import { afterEach, describe, expect, it } from "vitest";
import { givenEbb, type RunningEbb } from "../support/ebb.js";
import {
  command,
  createRollout,
  describeTargets,
  errorsOf,
  getRollout,
  healthChecksPass,
  type Lab,
  startLoad,
  stepRuns,
  targetOf,
  untilInService,
  untilRollout,
  untilTerminal,
} from "../support/rollouts.js";
import { givenLab } from "../support/world.js";

// Operator pause: takes effect at the next step boundary (the step in flight finishes, nothing new starts),
// holds for as long as the operator wants, and resume continues from there to success.

let lab: Lab | undefined;
let ebb: RunningEbb | undefined;
let load: LoadGenerator | undefined;

afterEach(async () => {
  await load?.stop();
  await ebb?.cleanup();
  await lab?.cleanup();
  [load, ebb, lab] = [undefined, undefined, undefined];
});

/** The index of the last step started on `target` before the rollout's status turned `paused`. */
async function stepInFlightAtPause(
  e: RunningEbb,
  id: string,
  target: string,
): Promise<{ stepIndex: number }> {
  const timeline = await e.prisma.rolloutEvent.findMany({ where: { rolloutId: id }, orderBy: { id: "asc" } });
  const data = timeline.map(
    (ev) => ev.data as { type: string; to?: string; target?: string; stepIndex?: number },
  );
  const pausedAt = data.findIndex((d) => d.type === "rollout.status" && d.to === "paused");
  const started = data.slice(0, pausedAt).filter((d) => d.type === "step.started" && d.target === target);
  const last = started.at(-1);
  if (pausedAt < 0 || last?.stepIndex === undefined) throw new Error(`no step of ${target} before the pause`);
  // A step that finished before the pause would have started the next one: this one was still in flight.
  return { stepIndex: last.stepIndex };
}

describe("pause and resume", () => {
  it("pause holds the target at the next step boundary; resume completes the rollout", async () => {
    // Given a rollout under keep-alive load, its first target mid-way (waiting for the device to unbind it)
    lab = await givenLab(24, { vms: 3 });
    ebb = await givenEbb(lab, 24);
    const e = ebb;
    load = await startLoad(lab);
    const id = await createRollout(e, { fleet: "lab", version: "2.0.0", runbook: "l4-drain" });
    await untilRollout(e, id, (v) => targetOf(v, "vm1").step === "await-unbound", "vm1 at await-unbound");

    // When the operator pauses it
    const paused = await command(e, id, "pause");
    expect(paused.status, JSON.stringify(paused.body)).toBe(200);
    expect(paused.body.status).toBe("paused");
    // the step in flight when the pause landed, from the timeline (the answer is read a moment later)
    const inFlight = await stepInFlightAtPause(e, id, "vm1");

    // Then vm1 finishes the step it was in and holds at the next one, with no attempt started
    const held = await untilRollout(e, id, (v) => targetOf(v, "vm1").status === "held", "vm1 held");
    expect(held.status).toBe("paused");
    expect(targetOf(held, "vm1")).toMatchObject({ stepIndex: inFlight.stepIndex + 1, attempt: 0 });
    const runsAtHold = await stepRuns(e, id, "vm1");
    expect(runsAtHold.map((s) => s.stepIndex)).toEqual([...Array(inFlight.stepIndex + 1).keys()]);
    expect(runsAtHold.every((s) => s.status === "succeeded")).toBe(true);
    // and stays there: many device health-check intervals later, still no new step, nothing else started
    await healthChecksPass(lab, "vm1", 10);
    const later = await getRollout(e, id);
    expect(later.status).toBe("paused");
    expect(targetOf(later, "vm1")).toMatchObject({ status: "held", stepIndex: inFlight.stepIndex + 1 });
    expect(await stepRuns(e, id, "vm1")).toHaveLength(runsAtHold.length);
    for (const name of ["vm2", "vm3"])
      expect(targetOf(later, name).status, describeTargets(later)).toBe("pending");
    // a second pause does not apply
    expect((await command(e, id, "pause")).status).toBe(409);

    // When the operator resumes
    const resumed = await command(e, id, "resume");
    expect(resumed.status, JSON.stringify(resumed.body)).toBe(200);
    expect(resumed.body.status).toBe("running");
    expect(targetOf(resumed.body, "vm1")).toMatchObject({ stepIndex: inFlight.stepIndex + 1, attempt: 1 });

    // Then the rollout completes, every VM on the new version, and no client saw an error
    const done = await untilTerminal(e, id);
    expect(done.status, describeTargets(done)).toBe("succeeded");
    expect((await command(e, id, "resume")).status).toBe(409);
    for (const v of lab.vms) {
      expect(await vmStatus(v.dir)).toMatchObject({ running: true, runningVersion: "2.0.0" });
      await untilInService(lab, v.name);
    }
    const errors = errorsOf(await load.stop());
    load = undefined;
    expect(errors.count, errors.samples).toBe(0);
  });
});
