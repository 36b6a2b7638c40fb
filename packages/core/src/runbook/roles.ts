import type { ExecKind, ExecStep } from "./steps.js";

/**
 * Commands whose effect on the target we can recognise when a runbook does not say `kind:`. Used by
 * the preflight (a stop before an observed unbind) and the workflow (a failed deploy leaves the target
 * out). `restart` stops the server too, so it counts as a stop.
 */
const PATTERNS: readonly { kind: ExecKind; pattern: RegExp }[] = [
  { kind: "stop", pattern: /\bebb-vm\s+stop\b/ },
  { kind: "stop", pattern: /\bsystemctl\s+(?:\S+\s+)*(?:stop|restart|kill)\b/ },
  { kind: "stop", pattern: /\bservice\s+\S+\s+(?:stop|restart)\b/ },
  { kind: "stop", pattern: /\bnginx\s+(?:\S+\s+)*-s\s+(?:quit|stop)\b/ },
  { kind: "start", pattern: /\bebb-vm\s+start\b/ },
  { kind: "start", pattern: /\bsystemctl\s+(?:\S+\s+)*start\b/ },
  { kind: "start", pattern: /\bservice\s+\S+\s+start\b/ },
  { kind: "deploy", pattern: /\bebb-vm\s+deploy\b/ },
  { kind: "health-fail", pattern: /\bebb-vm\s+health\s+fail\b/ },
  { kind: "health-restore", pattern: /\bebb-vm\s+health\s+restore\b/ },
  { kind: "health-fail", pattern: /\bmv\s+\S*health_check\.html\s+\S*health_check\.html\.\w+/ },
  { kind: "health-fail", pattern: /\brm\s+(?:-\w+\s+)*\S*health_check\.html(?:\s|$)/ },
  { kind: "health-restore", pattern: /\bmv\s+\S*health_check\.html\.\w+\s+\S*health_check\.html(?:\s|$)/ },
];

/** The command's effect: the explicit `kind:` if given, else recognised from argv or script. */
export function execKind(step: ExecStep): ExecKind | undefined {
  if (step.kind !== undefined) return step.kind;
  const text = commandText(step);
  return PATTERNS.find((p) => p.pattern.test(text))?.kind;
}

/** argv joined with spaces (for matching and display only: never executed as shell text). */
export function commandText(step: ExecStep): string {
  return step.run !== undefined ? step.run.join(" ") : (step.script ?? "");
}

/**
 * What a step does to the target in the drain, whatever its type, so the planner, the preflight and the
 * state machine treat a pod like a VM:
 * - `out-of-service`: starts taking it out while it keeps running (health check fails, readiness gate False);
 * - `stop`: stops the server (FIN to its clients): `systemctl stop`, deleting a pod;
 * - `deploy`: puts the new version in place; a failure leaves the target out (an abort does not restore a
 *   broken release). For pods, the replacement that runs the version becoming ready is that moment;
 * - `start`: starts the server again;
 * - `in`: brings it back into service (health check restored, readiness gate True).
 * Waits that observe the balancer have no role: see OutOfServiceEffect. Declared per type in STEP_TYPES;
 * see stepRole() for the steps whose role depends on their parameters.
 */
export type StepRole = "out-of-service" | "stop" | "deploy" | "start" | "in";
