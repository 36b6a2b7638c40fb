import { existsSync, readdirSync } from "node:fs";
import { dirname } from "node:path";
import { describe, expect, it } from "vitest";
import {
  BUILTIN_RUNBOOK_NAMES,
  builtinRunbookPath,
  builtinRunbookSource,
  loadBuiltinRunbooks,
} from "./builtins.js";
import { parseRunbook } from "./parse.js";
import { execKind } from "./roles.js";
import { stepRole } from "./step-types.js";

describe("built-in runbooks", () => {
  it("every YAML file in builtin/ is listed and parses", () => {
    const dir = dirname(builtinRunbookPath("l4-drain"));
    const files = readdirSync(dir).filter((f) => f.endsWith(".yaml"));
    expect(files.sort()).toEqual(BUILTIN_RUNBOOK_NAMES.map((n) => `${n}.yaml`).sort());
    for (const name of BUILTIN_RUNBOOK_NAMES) {
      expect(existsSync(builtinRunbookPath(name))).toBe(true);
      const result = parseRunbook(builtinRunbookSource(name));
      expect(result.ok ? [] : result.errors).toEqual([]);
    }
  });

  it("l4-drain follows the documented L7 procedure", () => {
    const { "l4-drain": runbook } = loadBuiltinRunbooks();
    expect(runbook.steps.map((s) => `${s.id}:${s.type}`)).toEqual([
      "fail-health-check:exec",
      "await-unbound:balancer.awaitUnbound",
      "stop:exec",
      "await-quiet:traffic.awaitQuiet",
      "deploy:exec",
      "start:exec",
      "restore-health-check:exec",
      "await-bound:balancer.awaitBound",
      "verify:http.check",
    ]);
    const stop = runbook.steps[2];
    expect(stop?.type === "exec" && stop.run).toEqual(["ebb-vm", "stop"]);
    // Production equivalents are documented in the file itself.
    const source = builtinRunbookSource("l4-drain");
    expect(source).toContain("systemctl stop nginx");
    expect(source).toContain("mv /var/www/html/health_check.html /var/www/html/health_check.html.off");
  });

  it("haproxy-drain drains through the Runtime API and observes every effect", () => {
    const { "haproxy-drain": runbook } = loadBuiltinRunbooks();
    expect(runbook.balancer).toBe("haproxy");
    expect(runbook.steps.map((s) => `${s.id}:${s.type}`)).toEqual([
      "drain:balancer.disable",
      "await-unbound:balancer.awaitUnbound",
      "await-no-new-sessions:traffic.awaitQuiet",
      "stop:exec",
      "await-quiet:traffic.awaitQuiet",
      "deploy:exec",
      "start:exec",
      "ready:balancer.enable",
      "await-bound:balancer.awaitBound",
      "verify:http.check",
    ]);
    const noNew = runbook.steps[2];
    expect(noNew?.type === "traffic.awaitQuiet" && noNew.newSessionsOnly).toBe(true);
    expect(builtinRunbookSource("haproxy-drain")).toContain("set server web/vm1 state drain");
  });

  it("l4-drain-l4check stops first and observes the unbind right after", () => {
    const { "l4-drain-l4check": runbook } = loadBuiltinRunbooks();
    expect(runbook.steps.map((s) => s.id)).toEqual([
      "stop",
      "await-unbound",
      "await-quiet",
      "deploy",
      "start",
      "await-bound",
      "verify",
    ]);
  });

  it("k8s-pod-drain takes the pod out, observes, then deletes and awaits the replacement", () => {
    const { "k8s-pod-drain": runbook } = loadBuiltinRunbooks();
    expect(runbook.balancer).toBe("kubernetes");
    expect(runbook.steps.map((s) => `${s.id}:${s.type}`)).toEqual([
      "take-out:k8s.setReadiness",
      "await-endpoint-removed:k8s.awaitEndpointRemoved",
      "await-quiet:traffic.awaitQuiet",
      "delete-pod:k8s.deletePod",
      "await-replacement:k8s.awaitReplacementReady",
      "verify:http.check",
    ]);
    expect(runbook.steps.map(stepRole)).toEqual([
      "out-of-service",
      undefined,
      undefined,
      "stop",
      "deploy",
      undefined,
    ]);
    expect(runbook.steps[0]).toMatchObject({ ready: false });
    expect(runbook.steps[2]).toMatchObject({ newSessionsOnly: true });
    expect(runbook.steps[3]).toMatchObject({ allowInService: false });
    expect(builtinRunbookSource("k8s-pod-drain")).toContain("kubectl delete pod");
  });

  it("no built-in puts a parameter or the version into argv", () => {
    for (const runbook of Object.values(loadBuiltinRunbooks())) {
      for (const step of runbook.steps) {
        if (step.type !== "exec") continue;
        expect(step.script).toBeUndefined();
        expect(step.run?.join(" ")).not.toMatch(/\$/);
        // The declared kind agrees with what the command would be recognised as.
        expect(execKind({ ...step, kind: undefined })).toBe(step.kind);
      }
    }
  });
});
