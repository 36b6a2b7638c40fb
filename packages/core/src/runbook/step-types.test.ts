import { describe, expect, it } from "vitest";
import { assertNever } from "../errors.js";
import { DEFAULT_L4_TIMING } from "../facts.js";
import { parseRunbookOrThrow } from "./parse.js";
import { execKind } from "./roles.js";
import {
  describeStep,
  isStepIdempotent,
  resolveStepTimeoutMs,
  STEP_TYPES,
  stepOutOfServiceEffect,
  stepRole,
} from "./step-types.js";
import { type ExecStep, STEP_TYPE_NAMES, type Step, stepSchema } from "./steps.js";

function steps(yaml: string) {
  return parseRunbookOrThrow(`apiVersion: ebb/v1\nkind: Runbook\nname: t\nbalancer: l4\nsteps:\n${yaml}`)
    .steps;
}

describe("STEP_TYPES registry", () => {
  it("covers exactly the types of the step union", () => {
    const fromSchema = stepSchema.options.map((o) => o.shape.type.value).sort();
    expect(Object.keys(STEP_TYPES).sort()).toEqual(fromSchema);
    expect([...STEP_TYPE_NAMES].sort()).toEqual(fromSchema);
    for (const [type, info] of Object.entries(STEP_TYPES)) {
      expect(info.type).toBe(type);
      expect(info.verify.length).toBeGreaterThan(0);
    }
  });

  it("is exhaustive at compile time (checked by tsc -p tsconfig.test.json)", () => {
    // @ts-expect-error a registry that misses a step type does not compile
    const incomplete: typeof STEP_TYPES = { exec: STEP_TYPES.exec };
    function partial(step: Step): string {
      switch (step.type) {
        case "exec":
          return "exec";
        default:
          // @ts-expect-error a switch that misses a step type does not compile
          return assertNever(step, "step type");
      }
    }
    expect(Object.keys(incomplete)).toEqual(["exec"]);
    expect(() => partial({ type: "sleep", id: "s", onFailure: "halt", duration: 1 })).toThrow(
      /unhandled step type/,
    );
  });

  it("every type has a description and an effect answer (the exhaustive switches)", () => {
    const all = steps(`  - { id: a, type: exec, run: [ebb-vm, stop] }
  - { id: b, type: balancer.awaitUnbound }
  - { id: c, type: balancer.awaitBound }
  - { id: d, type: balancer.disable }
  - { id: e, type: balancer.enable }
  - { id: f, type: traffic.awaitQuiet }
  - { id: g, type: http.check }
  - { id: h, type: approval }
  - { id: i, type: sleep, duration: 1s }
  - { id: j, type: k8s.setReadiness }
  - { id: k, type: k8s.awaitEndpointRemoved }
  - { id: l, type: k8s.deletePod }
  - { id: m, type: k8s.awaitReplacementReady }
  - { id: n, type: k8s.setReadiness, ready: true }
  - { id: o, type: analysis, window: 5s, maxErrorRatio: 0.05 }
`);
    expect(new Set(all.map((s) => s.type)).size).toBe(STEP_TYPE_NAMES.length);
    expect(all.map(stepOutOfServiceEffect)).toEqual([
      "takesOut",
      "observesOut",
      "observesIn",
      "takesOut",
      "bringsIn",
      undefined,
      undefined,
      undefined,
      undefined,
      "takesOut",
      "observesOut",
      "takesOut",
      "observesIn",
      "bringsIn",
      undefined,
    ]);
    // The roles that make a pod's drain read like a VM's: out, stop, deploy, in.
    expect(all.map(stepRole)).toEqual([
      "stop",
      undefined,
      undefined,
      "out-of-service",
      "in",
      undefined,
      undefined,
      undefined,
      undefined,
      "out-of-service",
      undefined,
      "stop",
      "deploy",
      "in",
      undefined,
    ]);
    for (const step of all) expect(describeStep(step)).toMatch(new RegExp(`^${step.id}: `));
  });

  it("pod steps: deadlines from the propagation window and the grace period; all idempotent", () => {
    const [removed, deleted, graced, replaced] = steps(`  - { id: a, type: k8s.awaitEndpointRemoved }
  - { id: b, type: k8s.deletePod }
  - { id: c, type: k8s.deletePod, gracePeriod: 2m }
  - { id: d, type: k8s.awaitReplacementReady }
`);
    const pods = { ...DEFAULT_L4_TIMING, propagationWindowMs: 2_000 };
    expect(resolveStepTimeoutMs(removed!, pods)).toBe(2_000 + 30_000);
    expect(resolveStepTimeoutMs(deleted!, pods)).toBe(30_000 + 60_000);
    expect(resolveStepTimeoutMs(graced!, pods)).toBe(120_000 + 60_000);
    expect(resolveStepTimeoutMs(replaced!, pods)).toBe(300_000);
    expect([removed, deleted, replaced].map((s) => isStepIdempotent(s!))).toEqual([true, true, true]);
    expect(deleted).toMatchObject({ allowInService: false });
  });

  it("computes awaitUnbound's deadline from the detection window, keeps explicit timeouts", () => {
    const [unbound, bound, explicit, quiet] = steps(`  - { id: a, type: balancer.awaitUnbound }
  - { id: b, type: balancer.awaitBound }
  - { id: c, type: balancer.awaitUnbound, timeout: 2m }
  - { id: d, type: traffic.awaitQuiet, holdFor: 3s }
`);
    // (retry + 1) * interval + timeout = 25 s, plus the 5 s margin.
    expect(resolveStepTimeoutMs(unbound!, DEFAULT_L4_TIMING)).toBe(30_000);
    // One interval + check timeout = 15 s, plus margin.
    expect(resolveStepTimeoutMs(bound!, DEFAULT_L4_TIMING)).toBe(20_000);
    expect(resolveStepTimeoutMs(explicit!, DEFAULT_L4_TIMING)).toBe(120_000);
    // Scaled lab timing scales the computed deadline.
    const lab = { ...DEFAULT_L4_TIMING, healthCheckIntervalMs: 100, checkTimeoutMs: 50 };
    expect(resolveStepTimeoutMs(unbound!, lab)).toBe(250 + 5_000);
    expect(resolveStepTimeoutMs(quiet!, DEFAULT_L4_TIMING)).toBe(3_000 + 600_000 + 5_000);
  });

  it("exec idempotency is per step; waits are idempotent by type", () => {
    const [plain, marked, wait] = steps(`  - { id: a, type: exec, run: [x] }
  - { id: b, type: exec, run: [x], idempotent: true }
  - { id: c, type: balancer.awaitUnbound }
`);
    expect([plain, marked, wait].map((s) => isStepIdempotent(s!))).toEqual([false, true, true]);
  });
});

describe("execKind", () => {
  const exec = (run: string[] | string, kind?: ExecStep["kind"]): ExecStep => ({
    type: "exec",
    id: "x",
    onFailure: "halt",
    expectExit: [0],
    idempotent: false,
    ...(typeof run === "string" ? { script: run } : { run }),
    ...(kind === undefined ? {} : { kind }),
  });

  it.each([
    [["ebb-vm", "stop"], "stop"],
    [["systemctl", "stop", "nginx"], "stop"],
    [["systemctl", "--no-block", "restart", "nginx"], "stop"],
    ["service nginx stop", "stop"],
    ["nginx -s quit", "stop"],
    [["ebb-vm", "start"], "start"],
    [["systemctl", "start", "nginx"], "start"],
    [["ebb-vm", "deploy"], "deploy"],
    [["ebb-vm", "health", "fail"], "health-fail"],
    ["mv /var/www/html/health_check.html /var/www/html/health_check.html.off", "health-fail"],
    ["mv /var/www/html/health_check.html.off /var/www/html/health_check.html", "health-restore"],
    [["echo", "stopping"], undefined],
  ] as const)("%j -> %s", (run, kind) => {
    expect(execKind(exec(typeof run === "string" ? run : [...run]))).toBe(kind);
  });

  it("an explicit kind wins over the command", () => {
    expect(execKind(exec(["/opt/app/bin/shutdown"], "stop"))).toBe("stop");
  });
});
