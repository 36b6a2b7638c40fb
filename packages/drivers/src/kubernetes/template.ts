import { EbbError } from "@ebb/core";
import { VERSION_ANNOTATION } from "./config.js";
import { strategicMerge } from "./kube.js";
import { withImageTag } from "./pods.js";
import type { FleetWorkload } from "./workload.js";

export const VERSION_TEXT_RE = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** A version goes into labels, annotations and an image tag: the characters all three accept. */
export function assertVersionText(version: string): void {
  if (!VERSION_TEXT_RE.test(version)) {
    throw new EbbError(
      "param_invalid",
      `version ${JSON.stringify(version)}: letters, digits and . _ + - only`,
      {
        details: [{ field: "version", message: "invalid" }],
      },
    );
  }
}

/**
 * Deploy: the workload's pod template gets the new version (ebb.dev/version, and the image tag of
 * `versionContainer`). With updateStrategy OnDelete nothing restarts: each pod Ebb deletes comes back at
 * the new revision. Returns the update revision once the controller has observed the change.
 */
export async function setTemplateVersion(
  w: FleetWorkload,
  version: string,
): Promise<{ revision: string; changed: boolean }> {
  assertVersionText(version);
  const sts = await w.statefulSet();
  const name = w.config.workload.name;
  const strategy = sts.spec?.updateStrategy?.type ?? "RollingUpdate";
  if (strategy !== "OnDelete") {
    throw new EbbError(
      "param_invalid",
      `StatefulSet ${name} has updateStrategy ${strategy}: its controller would replace pods itself, undrained. Set spec.updateStrategy.type: OnDelete`,
      { details: { reason: "update_strategy" } },
    );
  }
  const template = sts.spec?.template;
  const containerName = w.config.versionContainer;
  const container = containerName
    ? template?.spec?.containers.find((c) => c.name === containerName)
    : undefined;
  if (containerName && !container) {
    throw new EbbError(
      "param_invalid",
      `balancerConfig.versionContainer: StatefulSet ${name} has no container ${containerName}`,
      {
        details: [{ field: "balancerConfig.versionContainer", message: "no such container" }],
      },
    );
  }
  const image = container?.image ? withImageTag(container.image, version) : undefined;
  const changed =
    template?.metadata?.annotations?.[VERSION_ANNOTATION] !== version ||
    (image !== undefined && container?.image !== image);
  if (changed) {
    await w.api(`patch statefulset ${w.ns}/${name} template to ${version}`, () =>
      w.clients.apps.patchNamespacedStatefulSet(
        {
          name,
          namespace: w.ns,
          body: {
            spec: {
              template: {
                metadata: { annotations: { [VERSION_ANNOTATION]: version } },
                ...(image && containerName ? { spec: { containers: [{ name: containerName, image }] } } : {}),
              },
            },
          },
        },
        strategicMerge(),
      ),
    );
  }
  const deadline = w.now() + w.config.requestTimeoutMs;
  for (;;) {
    const after = await w.statefulSet();
    const observed = (after.status?.observedGeneration ?? 0) >= (after.metadata?.generation ?? 0);
    if (after.spec?.template?.metadata?.annotations?.[VERSION_ANNOTATION] !== version) {
      throw new EbbError(
        "verify_failed",
        `StatefulSet ${name}: template version reads ${after.spec?.template?.metadata?.annotations?.[VERSION_ANNOTATION]} after setting ${version}`,
      );
    }
    if (observed && after.status?.updateRevision) return { revision: after.status.updateRevision, changed };
    if (w.now() > deadline) {
      throw new EbbError(
        "balancer_unavailable",
        `StatefulSet ${name}: the controller has not observed generation ${after.metadata?.generation}`,
      );
    }
    await sleep(w.config.pollIntervalMs);
  }
}
