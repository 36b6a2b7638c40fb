import { EbbError } from "@ebb/core";
import { OUT_OF_SERVICE_SINCE_ANNOTATION } from "./config.js";
import { mergePatch, strategicMerge } from "./kube.js";
import { type PodFacts, podFacts } from "./pods.js";
import type { FleetWorkload } from "./workload.js";

export interface ReadinessResult {
  /** `gate`: the readiness-gate condition was patched; `label`: the Service-selector label was flipped. */
  method: "gate" | "label";
  /** False when the pod already was in the requested state. */
  changed: boolean;
  pod: PodFacts;
}

/**
 * k8s.setReadiness: takes the pod out of its Service (ready=false) or puts it back, without touching the
 * process. With Ebb's readiness gate on the pod, its condition is patched on the status (the kubelet then
 * turns Ready False and the EndpointSlice controller marks the endpoint not ready). Without the gate, the
 * Service-selector label named like the gate is flipped, if the Service selects on it. Verified by reading
 * the pod back.
 */
export async function setReadiness(w: FleetWorkload, name: string, ready: boolean): Promise<ReadinessResult> {
  const pod = await w.mustReadPod(name);
  const facts = podFacts(pod, w.config.gate);
  const gate = w.config.gate;
  if (facts.hasGate) {
    const wanted = ready ? "True" : "False";
    const changed = facts.gate !== wanted;
    if (changed) {
      await w.api(`patch pod ${w.ns}/${name} status (${gate}=${wanted})`, () =>
        w.clients.core.patchNamespacedPodStatus(
          {
            name,
            namespace: w.ns,
            body: {
              metadata: { uid: facts.uid },
              status: {
                conditions: [
                  {
                    type: gate,
                    status: wanted,
                    reason: ready ? "EbbInService" : "EbbDraining",
                    message: ready
                      ? "put back in service by Ebb"
                      : "taken out of its Services by Ebb for a drain",
                    lastProbeTime: null,
                    lastTransitionTime: new Date(w.now()).toISOString(),
                  },
                ],
              },
            },
          },
          strategicMerge(),
        ),
      );
    }
    const after = podFacts(await w.mustReadPod(name), gate);
    if (after.uid !== facts.uid || after.gate !== wanted) {
      throw new EbbError(
        "verify_failed",
        `pod ${name}: readiness gate ${gate} reads ${after.gate ?? "absent"} after setting it ${wanted}`,
        { details: { target: name, expected: wanted, actual: after.gate } },
      );
    }
    return { method: "gate", changed, pod: after };
  }

  const svc = await w.service();
  const selectorValue = svc.spec?.selector?.[gate];
  if (selectorValue === undefined) {
    throw new EbbError(
      "param_invalid",
      `pod ${name} has no readiness gate ${gate} (spec.readinessGates) and Service ${w.config.service} does not ` +
        `select on a label ${gate}: Ebb cannot take it out of the Service without stopping it. Add the gate to the ` +
        `pod template, or the label to the template and the Service selector`,
      { details: { target: name, reason: "no_gate_no_label" } },
    );
  }
  const sts = await w.workloadObject();
  if (sts.spec?.selector?.matchLabels?.[gate] !== undefined) {
    throw new EbbError(
      "param_invalid",
      `${w.config.workload.kind} ${w.config.workload.name} selects on ${gate}: flipping it would orphan the pod and start another`,
      { details: { target: name, reason: "label_in_workload_selector" } },
    );
  }
  const outValue = selectorValue === "false" ? "out" : "false";
  const wanted = ready ? selectorValue : outValue;
  const changed = facts.servingLabel !== wanted;
  if (changed) {
    await w.api(`patch pod ${w.ns}/${name} label ${gate}=${wanted}`, () =>
      w.clients.core.patchNamespacedPod(
        {
          name,
          namespace: w.ns,
          body: {
            metadata: {
              labels: { [gate]: wanted },
              annotations: {
                [OUT_OF_SERVICE_SINCE_ANNOTATION]: ready ? null : new Date(w.now()).toISOString(),
              },
            },
          },
        },
        mergePatch(),
      ),
    );
  }
  const after = podFacts(await w.mustReadPod(name), gate);
  if (after.uid !== facts.uid || after.servingLabel !== wanted) {
    throw new EbbError(
      "verify_failed",
      `pod ${name}: label ${gate} reads ${after.servingLabel} after setting ${wanted}`,
      {
        details: { target: name, expected: wanted, actual: after.servingLabel },
      },
    );
  }
  return { method: "label", changed, pod: after };
}
