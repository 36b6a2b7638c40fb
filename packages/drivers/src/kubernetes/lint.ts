import { EbbError, type LintWorkload, lintWorkload, type WorkloadLint } from "@ebb/core";
import {
  AutoscalingV2Api,
  PolicyV1Api,
  type V1Deployment,
  type V1StatefulSet,
} from "@kubernetes/client-node";
import type { FleetWorkload } from "./workload.js";
import { selectorString } from "./workload.js";

/**
 * Reads the fleet's live objects (its StatefulSet or Deployment, the pods it selects, the namespace's HPAs and
 * PodDisruptionBudgets) and runs core's lint rules over them. The workload and its pods must be readable; an
 * HPA or PDB list the credentials may not read is reported as unread rather than failing the whole lint,
 * since the preStop and grace rules still hold without them.
 */
export async function lintFleetWorkload(w: FleetWorkload): Promise<WorkloadLint> {
  const { config, clients } = w;
  const { kind, name } = config.workload;
  const ns = w.ns;
  const object = await w.api<V1Deployment | V1StatefulSet>(`read ${kind.toLowerCase()} ${ns}/${name}`, () =>
    kind === "Deployment"
      ? clients.apps.readNamespacedDeployment({ name, namespace: ns })
      : clients.apps.readNamespacedStatefulSet({ name, namespace: ns }),
  );
  const labelSelector = selectorString(object.spec?.selector);
  const autoscaling = clients.kc.makeApiClient(AutoscalingV2Api);
  const policy = clients.kc.makeApiClient(PolicyV1Api);
  const unread: WorkloadLint["unread"] = [];
  const optional = async <T>(what: string, fn: () => Promise<{ items: T[] }>): Promise<T[]> => {
    try {
      return (await w.api(`list ${what} ${ns}`, fn)).items;
    } catch (err) {
      // 404 (the API is not served) and 401/403 (RBAC): not readable with these credentials. Anything else
      // (timeouts, 5xx) is the cluster being unavailable, which fails the lint as a whole.
      const refused =
        err instanceof EbbError &&
        (err.code === "not_found" || (err.code === "balancer_unavailable" && err.retryable === false));
      if (!refused) throw err;
      unread.push({ kind: what, reason: err.message });
      return [];
    }
  };
  const [pods, hpas, pdbs] = await Promise.all([
    w.api(`list pods ${ns} (${labelSelector})`, () =>
      clients.core.listNamespacedPod({ namespace: ns, labelSelector }),
    ),
    optional("horizontalpodautoscalers", () =>
      autoscaling.listNamespacedHorizontalPodAutoscaler({ namespace: ns }),
    ),
    optional("poddisruptionbudgets", () => policy.listNamespacedPodDisruptionBudget({ namespace: ns })),
  ]);
  // client-node's V1 objects carry the fields the rules read under the same names; the kind is the fleet's.
  const workload = { ...object, kind } as LintWorkload;
  const findings = lintWorkload({
    propagationWindowMs: config.propagationWindowMs,
    timeScale: config.timeScale,
    ...(config.maxUnavailable !== undefined ? { maxUnavailable: config.maxUnavailable } : {}),
    ...(config.versionContainer !== undefined ? { appContainer: config.versionContainer } : {}),
    workload,
    // A terminating pod is on its way out: its spec says nothing about the next termination.
    pods: pods.items.filter((p) => !p.metadata?.deletionTimestamp),
    hpas,
    pdbs,
  });
  return { workload: { kind, namespace: ns, name }, findings, unread };
}
