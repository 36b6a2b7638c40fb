import { EbbError } from "@ebb/core";
import type {
  V1EndpointSlice,
  V1LabelSelector,
  V1Pod,
  V1Service,
  V1StatefulSet,
} from "@kubernetes/client-node";
import {
  EBB_GATE,
  type KubernetesConfig,
  type KubernetesConfigInput,
  OUT_OF_SERVICE_SINCE_ANNOTATION,
  parseKubernetesConfig,
  VERSION_ANNOTATION,
} from "./config.js";
import { EndpointSliceWatch, PodWatch, SERVICE_NAME_LABEL } from "./endpoint-watch.js";
import { call, type KubeClients, loadKubeConfig, makeClients, mergePatch, strategicMerge } from "./kube.js";
import {
  type EndpointView,
  endpointOf,
  type PodFacts,
  podFacts,
  removedSince,
  withImageTag,
} from "./pods.js";

export interface ReadinessResult {
  /** `gate`: the readiness-gate condition was patched; `label`: the Service-selector label was flipped. */
  method: "gate" | "label";
  /** False when the pod already was in the requested state. */
  changed: boolean;
  pod: PodFacts;
}

export interface EndpointRemoval {
  /** The pod's endpoint is not ready (or not listed) in the Service's EndpointSlices. */
  removed: boolean;
  /** ...and the propagation window has passed since: the proxies have caught up. */
  propagated: boolean;
  /** Until `propagated` (0 once it is); the full window while not removed. */
  remainingMs: number;
  /** Epoch ms the removal counts from, when removed. */
  removedAt?: number;
  endpoint: EndpointView;
}

export interface DeleteResult {
  /**
   * deleted: deleted (by this or an earlier call) and seen gone; deleting: deletion issued (`wait: false`),
   * re-check with checkPodGone(name, uid); already-gone: no such pod; replaced: the pod there now is a
   * replacement, left alone.
   */
  outcome: "deleted" | "deleting" | "already-gone" | "replaced";
  uid?: string;
  waitedMs: number;
}

export interface ReplacementCheck {
  ready: boolean;
  /** Why not yet (for the step's record); "ready" when ready. */
  reason: string;
  pod?: PodFacts;
}

export interface WaitOptions {
  timeoutMs: number;
}

const VERSION_TEXT_RE = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;

function selectorString(sel: V1LabelSelector | undefined): string {
  const parts = Object.entries(sel?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of sel?.matchExpressions ?? []) {
    const values = (e.values ?? []).join(",");
    if (e.operator === "In") parts.push(`${e.key} in (${values})`);
    else if (e.operator === "NotIn") parts.push(`${e.key} notin (${values})`);
    else if (e.operator === "Exists") parts.push(e.key);
    else if (e.operator === "DoesNotExist") parts.push(`!${e.key}`);
  }
  return parts.join(",");
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/**
 * The Kubernetes side of a fleet: a workload (StatefulSet) and the Service in front of it, in a namespace.
 * One method (or a check and its blocking wait) per k8s.* step; every change is read back before it counts.
 * All state it decides on lives in the cluster (conditions, annotations, uids), so a worker that resumes a
 * step after a crash decides the same way.
 */
export class KubernetesFleet {
  readonly config: KubernetesConfig;
  private readonly clients: KubeClients;
  private readonly now: () => number;

  constructor(
    config: KubernetesConfig | KubernetesConfigInput,
    opts: { clients?: KubeClients; now?: () => number } = {},
  ) {
    this.config = parseKubernetesConfig(config);
    this.clients = opts.clients ?? makeClients(loadKubeConfig(this.config));
    this.now = opts.now ?? Date.now;
  }

  private get ns(): string {
    return this.config.namespace;
  }

  private api<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return call(what, this.config.requestTimeoutMs, fn);
  }

  /** The StatefulSet; a Deployment fleet is refused here (see README: why StatefulSets). */
  async statefulSet(): Promise<V1StatefulSet> {
    const { kind, name } = this.config.workload;
    if (kind !== "StatefulSet") {
      throw new EbbError(
        "param_invalid",
        `balancerConfig.workload.kind: ${kind} is not driven yet; use a StatefulSet with updateStrategy OnDelete (see packages/drivers/src/kubernetes/README.md)`,
        { details: [{ field: "balancerConfig.workload.kind", message: "unsupported" }] },
      );
    }
    return this.api(`read statefulset ${this.ns}/${name}`, () =>
      this.clients.apps.readNamespacedStatefulSet({ name, namespace: this.ns }),
    );
  }

  async service(): Promise<V1Service> {
    return this.api(`read service ${this.ns}/${this.config.service}`, () =>
      this.clients.core.readNamespacedService({ name: this.config.service, namespace: this.ns }),
    );
  }

  private async readPod(name: string): Promise<V1Pod | null> {
    try {
      return await this.api(`read pod ${this.ns}/${name}`, () =>
        this.clients.core.readNamespacedPod({ name, namespace: this.ns }),
      );
    } catch (err) {
      if (err instanceof EbbError && err.code === "not_found") return null;
      throw err;
    }
  }

  private async mustReadPod(name: string): Promise<V1Pod> {
    const pod = await this.readPod(name);
    if (!pod) {
      throw new EbbError(
        "not_found",
        `pod ${this.ns}/${name} does not exist (fleet ${this.config.workload.name})`,
        {
          details: { target: name },
        },
      );
    }
    return pod;
  }

  /** The workload's pods with their facts (grace period, preStop, gate, sidecar), sorted by name. */
  async pods(): Promise<PodFacts[]> {
    const sts = await this.statefulSet();
    const labelSelector = selectorString(sts.spec?.selector);
    const list = await this.api(`list pods ${this.ns} (${labelSelector})`, () =>
      this.clients.core.listNamespacedPod({ namespace: this.ns, labelSelector }),
    );
    return list.items.map((p) => podFacts(p, this.config.gate)).sort((a, b) => a.name.localeCompare(b.name));
  }

  async pod(name: string): Promise<PodFacts | null> {
    const p = await this.readPod(name);
    return p ? podFacts(p, this.config.gate) : null;
  }

  async slices(): Promise<V1EndpointSlice[]> {
    const list = await this.api(`list endpointslices of service ${this.ns}/${this.config.service}`, () =>
      this.clients.discovery.listNamespacedEndpointSlice({
        namespace: this.ns,
        labelSelector: `${SERVICE_NAME_LABEL}=${this.config.service}`,
      }),
    );
    return list.items;
  }

  /** The pod's endpoint as the Service's EndpointSlices list it now. */
  async endpoint(name: string): Promise<EndpointView> {
    return endpointOf(await this.slices(), name);
  }

  /**
   * k8s.setReadiness: takes the pod out of its Service (ready=false) or puts it back, without touching the
   * process. With Ebb's readiness gate on the pod, its condition is patched on the status (the kubelet then
   * turns Ready False and the EndpointSlice controller marks the endpoint not ready). Without the gate, the
   * Service-selector label named like the gate is flipped, if the Service selects on it. Verified by reading
   * the pod back.
   */
  async setReadiness(name: string, ready: boolean): Promise<ReadinessResult> {
    const pod = await this.mustReadPod(name);
    const facts = podFacts(pod, this.config.gate);
    const gate = this.config.gate;
    if (facts.hasGate) {
      const wanted = ready ? "True" : "False";
      const changed = facts.gate !== wanted;
      if (changed) {
        await this.api(`patch pod ${this.ns}/${name} status (${gate}=${wanted})`, () =>
          this.clients.core.patchNamespacedPodStatus(
            {
              name,
              namespace: this.ns,
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
                      lastTransitionTime: new Date(this.now()).toISOString(),
                    },
                  ],
                },
              },
            },
            strategicMerge(),
          ),
        );
      }
      const after = podFacts(await this.mustReadPod(name), gate);
      if (after.uid !== facts.uid || after.gate !== wanted) {
        throw new EbbError(
          "verify_failed",
          `pod ${name}: readiness gate ${gate} reads ${after.gate ?? "absent"} after setting it ${wanted}`,
          { details: { target: name, expected: wanted, actual: after.gate } },
        );
      }
      return { method: "gate", changed, pod: after };
    }

    const svc = await this.service();
    const selectorValue = svc.spec?.selector?.[gate];
    if (selectorValue === undefined) {
      throw new EbbError(
        "param_invalid",
        `pod ${name} has no readiness gate ${gate} (spec.readinessGates) and Service ${this.config.service} does not ` +
          `select on a label ${gate}: Ebb cannot take it out of the Service without stopping it. Add the gate to the ` +
          `pod template, or the label to the template and the Service selector`,
        { details: { target: name, reason: "no_gate_no_label" } },
      );
    }
    const sts = await this.statefulSet();
    if (sts.spec?.selector?.matchLabels?.[gate] !== undefined) {
      throw new EbbError(
        "param_invalid",
        `StatefulSet ${this.config.workload.name} selects on ${gate}: flipping it would orphan the pod and start another`,
        { details: { target: name, reason: "label_in_workload_selector" } },
      );
    }
    const outValue = selectorValue === "false" ? "out" : "false";
    const wanted = ready ? selectorValue : outValue;
    const changed = facts.servingLabel !== wanted;
    if (changed) {
      await this.api(`patch pod ${this.ns}/${name} label ${gate}=${wanted}`, () =>
        this.clients.core.patchNamespacedPod(
          {
            name,
            namespace: this.ns,
            body: {
              metadata: {
                labels: { [gate]: wanted },
                annotations: {
                  [OUT_OF_SERVICE_SINCE_ANNOTATION]: ready ? null : new Date(this.now()).toISOString(),
                },
              },
            },
          },
          mergePatch(),
        ),
      );
    }
    const after = podFacts(await this.mustReadPod(name), gate);
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

  /**
   * k8s.awaitEndpointRemoved, one check: is the endpoint out of the EndpointSlices, and has the propagation
   * window passed since? The removal time comes from the cluster (the pod's Ready transition, or the time
   * Ebb recorded when it flipped the label), so rechecks by any worker agree. `observedAt` (epoch ms) is a
   * fallback for a pod that is already gone.
   */
  async checkEndpointRemoved(name: string, opts: { observedAt?: number } = {}): Promise<EndpointRemoval> {
    const [slices, pod] = await Promise.all([this.slices(), this.readPod(name)]);
    const endpoint = endpointOf(slices, name);
    const window = this.config.propagationWindowMs;
    const sameIncarnation = !pod || !endpoint.present || endpoint.uid === pod.metadata?.uid;
    if (endpoint.present && endpoint.ready && sameIncarnation) {
      return { removed: false, propagated: false, remainingMs: window, endpoint };
    }
    const now = this.now();
    const removedAt = (pod ? removedSince(pod) : undefined) ?? opts.observedAt ?? now;
    const remainingMs = Math.max(0, removedAt + window - now);
    return { removed: true, propagated: remainingMs === 0, remainingMs, removedAt, endpoint };
  }

  /** Watches the Service's EndpointSlices; `onChange` gets the slices after every change. */
  async watchEndpoints(
    onChange: (slices: V1EndpointSlice[]) => void,
    onError?: (err: unknown) => void,
  ): Promise<() => Promise<void>> {
    const watch = new EndpointSliceWatch(
      this.clients.kc,
      this.clients.discovery,
      this.ns,
      this.config.service,
      onChange,
      onError,
    );
    await watch.start();
    return () => watch.stop();
  }

  /**
   * Calls back with a pod's name when that pod changes, and with "*" when the Service's EndpointSlices
   * change: what a waiting k8s.* step is waiting for. Watches, not polls: the caller re-checks on each call.
   */
  async watchChanges(
    onChange: (pod: string) => void,
    onError?: (err: unknown) => void,
  ): Promise<() => Promise<void>> {
    const labelSelector = selectorString((await this.statefulSet()).spec?.selector);
    const pods = new PodWatch(this.clients.kc, this.clients.core, this.ns, labelSelector, onChange, onError);
    const stopSlices = await this.watchEndpoints(() => onChange("*"), onError);
    try {
      await pods.start();
    } catch (err) {
      await stopSlices();
      throw err;
    }
    return async () => {
      await Promise.allSettled([pods.stop(), stopSlices()]);
    };
  }

  /**
   * Re-runs `check` whenever the EndpointSlices change (and at least every pollIntervalMs, for changes the
   * slices do not show, such as a pod's deletion) until it returns a value or the deadline passes.
   */
  private async waitUntil<T>(
    what: string,
    timeoutMs: number,
    check: () => Promise<{ done: T } | { retryInMs: number; why: string }>,
  ): Promise<T> {
    const deadline = this.now() + timeoutMs;
    let wake: (() => void) | undefined;
    const stop = await this.watchEndpoints(
      () => wake?.(),
      () => {},
    ).catch(() => async () => {});
    try {
      for (;;) {
        const r = await check();
        if ("done" in r) return r.done;
        const left = deadline - this.now();
        if (left <= 0) {
          throw new EbbError("step_timeout", `${what}: not within ${timeoutMs} ms (${r.why})`, {
            details: { reason: r.why },
          });
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(
            resolve,
            Math.min(left, Math.max(1, Math.min(r.retryInMs, this.config.pollIntervalMs))),
          );
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
      }
    } finally {
      await stop();
    }
  }

  /** k8s.awaitEndpointRemoved as one blocking call: removed from the slices, then the propagation window. */
  async awaitEndpointRemoved(name: string, opts: WaitOptions): Promise<EndpointRemoval> {
    let observedAt: number | undefined;
    return this.waitUntil<EndpointRemoval>(
      `endpoint of pod ${name} removed and propagated`,
      opts.timeoutMs,
      async () => {
        const r = await this.checkEndpointRemoved(name, observedAt !== undefined ? { observedAt } : {});
        if (r.removed) observedAt ??= this.now();
        if (r.propagated) return { done: r };
        if (r.removed) await sleep(Math.min(r.remainingMs, this.config.pollIntervalMs * 5));
        return {
          retryInMs: r.removed ? 0 : this.config.pollIntervalMs,
          why: r.removed ? "propagating" : "still ready",
        };
      },
    );
  }

  /** Taken out by Ebb: its gate False, or (without the gate) its selector label flipped away from the Service's. */
  private async isOutOfService(facts: PodFacts): Promise<boolean> {
    if (facts.hasGate) return facts.gate === "False";
    const selected = (await this.service()).spec?.selector?.[this.config.gate];
    return selected !== undefined && facts.servingLabel !== selected;
  }

  /** Whether the incarnation `uid` of the pod is gone (a replacement of the same name does not count). */
  async checkPodGone(name: string, uid: string): Promise<boolean> {
    const pod = await this.readPod(name);
    return !pod || pod.metadata?.uid !== uid;
  }

  /**
   * k8s.deletePod: deletes the drained pod with its grace period (preStop, then SIGTERM, SIGKILL at the
   * deadline) and waits until that incarnation is gone. Safe to run again after a crash: a pod being deleted
   * is waited for, a missing one is "already-gone", and a pod in service that is not the one drained (a uid
   * other than `uid`, or created at or after `since`, e.g. the step's first start) is the replacement an
   * earlier run caused: "replaced", left alone. Any other pod still in service was never drained: refused.
   */
  async deletePod(
    name: string,
    opts: {
      graceSeconds?: number;
      timeoutMs?: number;
      uid?: string;
      since?: number;
      wait?: boolean;
      /** Delete a pod still in service, as a plain `kubectl delete` would (a baseline, never the drain). */
      allowInService?: boolean;
    } = {},
  ): Promise<DeleteResult> {
    const started = this.now();
    const pod = await this.readPod(name);
    if (!pod) return { outcome: "already-gone", waitedMs: 0 };
    const facts = podFacts(pod, this.config.gate);
    if (opts.uid !== undefined && facts.uid !== opts.uid)
      return { outcome: "replaced", uid: facts.uid, waitedMs: 0 };
    if (!facts.terminating) {
      if (!(await this.isOutOfService(facts))) {
        const created = pod.metadata?.creationTimestamp
          ? new Date(pod.metadata.creationTimestamp).getTime()
          : 0;
        // creationTimestamp has whole seconds: a pod created in the same second as `since` counts as newer.
        if (opts.since !== undefined && created >= Math.floor(opts.since / 1000) * 1000) {
          return { outcome: "replaced", uid: facts.uid, waitedMs: 0 };
        }
        if (!opts.allowInService)
          throw new EbbError(
            "step_failed",
            `pod ${name} is still in service (${facts.hasGate ? `gate ${this.config.gate}=${facts.gate ?? "absent"}` : `label ${this.config.gate}=${facts.servingLabel}`}): take it out (k8s.setReadiness) before deleting it`,
            { details: { target: name, reason: "not_drained" } },
          );
      }
      const graceSeconds = opts.graceSeconds ?? facts.terminationGracePeriodSeconds;
      try {
        await this.api(`delete pod ${this.ns}/${name}`, () =>
          this.clients.core.deleteNamespacedPod({
            name,
            namespace: this.ns,
            gracePeriodSeconds: graceSeconds,
            // The uid precondition: never the replacement that may already carry this name.
            body: { gracePeriodSeconds: graceSeconds, preconditions: { uid: facts.uid } },
          }),
        );
      } catch (err) {
        if (!(err instanceof EbbError && (err.code === "not_found" || err.code === "conflict"))) throw err;
      }
    }
    // A waiting step that must not hold a worker issues the delete and re-checks checkPodGone later.
    if (opts.wait === false) return { outcome: "deleting", uid: facts.uid, waitedMs: this.now() - started };
    const grace =
      opts.graceSeconds ?? pod.metadata?.deletionGracePeriodSeconds ?? facts.terminationGracePeriodSeconds;
    const timeoutMs = opts.timeoutMs ?? Math.ceil(grace * 1000 * this.config.timeScale) + 30_000;
    await this.waitUntil(`pod ${name} (uid ${facts.uid}) gone`, timeoutMs, async () =>
      (await this.checkPodGone(name, facts.uid))
        ? { done: true }
        : { retryInMs: this.config.pollIntervalMs, why: "still terminating" },
    );
    return { outcome: "deleted", uid: facts.uid, waitedMs: this.now() - started };
  }

  /**
   * k8s.awaitReplacementReady, one check: the pod of that name runs `version`, is Ready and ready in the
   * EndpointSlices. A new pod is born without Ebb's gate condition (the gate is Ebb's to set): once its
   * containers are ready, this sets it True.
   */
  async checkReplacementReady(name: string, version: string): Promise<ReplacementCheck> {
    let pod = await this.readPod(name);
    if (!pod) return { ready: false, reason: `waiting for the workload to create pod ${name}` };
    let facts = podFacts(pod, this.config.gate);
    if (facts.terminating)
      return { ready: false, reason: `the old pod ${name} is still terminating`, pod: facts };
    if (facts.version !== version)
      return {
        ready: false,
        reason: `pod ${name} runs version ${facts.version}, not ${version}`,
        pod: facts,
      };
    if (facts.hasGate && facts.gate === null && facts.containersReady) {
      await this.setReadiness(name, true);
      pod = await this.mustReadPod(name);
      facts = podFacts(pod, this.config.gate);
    }
    if (facts.hasGate && facts.gate !== "True") {
      return {
        ready: false,
        reason:
          facts.gate === null ? "containers not ready yet" : `gate ${this.config.gate} is ${facts.gate}`,
        pod: facts,
      };
    }
    if (!facts.ready) return { ready: false, reason: `pod ${name} is not Ready yet`, pod: facts };
    const ep = await this.endpoint(name);
    if (!ep.present || !ep.ready || ep.uid !== facts.uid) {
      return {
        ready: false,
        reason: `pod ${name} is not ready in the EndpointSlices of ${this.config.service} yet`,
        pod: facts,
      };
    }
    return { ready: true, reason: "ready", pod: facts };
  }

  async awaitReplacementReady(name: string, version: string, opts: WaitOptions): Promise<PodFacts> {
    return this.waitUntil<PodFacts>(
      `replacement of ${name} at ${version} ready`,
      opts.timeoutMs,
      async () => {
        const r = await this.checkReplacementReady(name, version);
        return r.ready && r.pod ? { done: r.pod } : { retryInMs: this.config.pollIntervalMs, why: r.reason };
      },
    );
  }

  /**
   * An aborted drain: brings the pod back into its Services on whatever version it runs. A pod still there is
   * put back (gate True, or its label restored); a deleted one is waited for until its replacement exists,
   * whose gate is set True once its containers are ready. Done when the endpoint of the pod there now is
   * ready in the EndpointSlices. Blocking (aborts are rare), bounded by `timeoutMs`.
   */
  async restore(name: string, opts: WaitOptions): Promise<PodFacts> {
    return this.waitUntil<PodFacts>(`pod ${name} back in service`, opts.timeoutMs, async () => {
      const pod = await this.readPod(name);
      if (!pod) return { retryInMs: this.config.pollIntervalMs, why: "no pod of that name yet" };
      let facts = podFacts(pod, this.config.gate);
      if (facts.terminating)
        return { retryInMs: this.config.pollIntervalMs, why: "the old pod is still terminating" };
      const putBack = facts.hasGate
        ? facts.gate === "False" || (facts.gate === null && facts.containersReady)
        : await this.isOutOfService(facts);
      if (putBack) facts = (await this.setReadiness(name, true)).pod;
      const ep = await this.endpoint(name);
      if (ep.present && ep.ready && ep.uid === facts.uid) return { done: facts };
      return { retryInMs: this.config.pollIntervalMs, why: "not ready in the EndpointSlices yet" };
    });
  }

  /**
   * Deploy: the workload's pod template gets the new version (ebb.dev/version, and the image tag of
   * `versionContainer`). With updateStrategy OnDelete nothing restarts: each pod Ebb deletes comes back at
   * the new revision. Returns the update revision once the controller has observed the change.
   */
  async setTemplateVersion(version: string): Promise<{ revision: string; changed: boolean }> {
    if (!VERSION_TEXT_RE.test(version)) {
      throw new EbbError(
        "param_invalid",
        `version ${JSON.stringify(version)}: letters, digits and . _ + - only`,
        {
          details: [{ field: "version", message: "invalid" }],
        },
      );
    }
    const sts = await this.statefulSet();
    const name = this.config.workload.name;
    const strategy = sts.spec?.updateStrategy?.type ?? "RollingUpdate";
    if (strategy !== "OnDelete") {
      throw new EbbError(
        "param_invalid",
        `StatefulSet ${name} has updateStrategy ${strategy}: its controller would replace pods itself, undrained. Set spec.updateStrategy.type: OnDelete`,
        { details: { reason: "update_strategy" } },
      );
    }
    const template = sts.spec?.template;
    const containerName = this.config.versionContainer;
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
      await this.api(`patch statefulset ${this.ns}/${name} template to ${version}`, () =>
        this.clients.apps.patchNamespacedStatefulSet(
          {
            name,
            namespace: this.ns,
            body: {
              spec: {
                template: {
                  metadata: { annotations: { [VERSION_ANNOTATION]: version } },
                  ...(image && containerName
                    ? { spec: { containers: [{ name: containerName, image }] } }
                    : {}),
                },
              },
            },
          },
          strategicMerge(),
        ),
      );
    }
    const deadline = this.now() + this.config.requestTimeoutMs;
    for (;;) {
      const after = await this.statefulSet();
      const observed = (after.status?.observedGeneration ?? 0) >= (after.metadata?.generation ?? 0);
      if (after.spec?.template?.metadata?.annotations?.[VERSION_ANNOTATION] !== version) {
        throw new EbbError(
          "verify_failed",
          `StatefulSet ${name}: template version reads ${after.spec?.template?.metadata?.annotations?.[VERSION_ANNOTATION]} after setting ${version}`,
        );
      }
      if (observed && after.status?.updateRevision) return { revision: after.status.updateRevision, changed };
      if (this.now() > deadline) {
        throw new EbbError(
          "balancer_unavailable",
          `StatefulSet ${name}: the controller has not observed generation ${after.metadata?.generation}`,
        );
      }
      await sleep(this.config.pollIntervalMs);
    }
  }

  /** The gate name in use (for callers that label their records). */
  get gate(): string {
    return this.config.gate ?? EBB_GATE;
  }
}
