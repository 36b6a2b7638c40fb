import { EbbError } from "@ebb/core";
import type { V1EndpointSlice } from "@kubernetes/client-node";
import { EndpointSliceWatch, PodWatch } from "./endpoint-watch.js";
import { type EndpointView, endpointOf, removedSince } from "./pods.js";
import type { FleetWorkload } from "./workload.js";

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

export interface WaitOptions {
  timeoutMs: number;
}

/** One look of a blocking wait: done with a value, or not yet (and why, and when to look again). */
export type WaitCheck<T> = { done: T } | { retryInMs: number; why: string };

/**
 * k8s.awaitEndpointRemoved, one check: is the endpoint out of the EndpointSlices, and has the propagation
 * window passed since? The removal time comes from the cluster (the pod's Ready transition, or the time
 * Ebb recorded when it flipped the label), so rechecks by any worker agree. `observedAt` (epoch ms) is a
 * fallback for a pod that is already gone.
 */
export async function checkEndpointRemoved(
  w: FleetWorkload,
  name: string,
  opts: { observedAt?: number } = {},
): Promise<EndpointRemoval> {
  const [slices, pod] = await Promise.all([w.slices(), w.readPod(name)]);
  const endpoint = endpointOf(slices, name);
  const window = w.config.propagationWindowMs;
  const sameIncarnation = !pod || !endpoint.present || endpoint.uid === pod.metadata?.uid;
  if (endpoint.present && endpoint.ready && sameIncarnation) {
    return { removed: false, propagated: false, remainingMs: window, endpoint };
  }
  const now = w.now();
  const removedAt = (pod ? removedSince(pod) : undefined) ?? opts.observedAt ?? now;
  const remainingMs = Math.max(0, removedAt + window - now);
  return { removed: true, propagated: remainingMs === 0, remainingMs, removedAt, endpoint };
}

/** Watches the Service's EndpointSlices; `onChange` gets the slices after every change. */
export async function watchEndpoints(
  w: FleetWorkload,
  onChange: (slices: V1EndpointSlice[]) => void,
  onError?: (err: unknown) => void,
): Promise<() => Promise<void>> {
  const watch = new EndpointSliceWatch(
    w.clients.kc,
    w.clients.discovery,
    w.ns,
    w.config.service,
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
export async function watchChanges(
  w: FleetWorkload,
  onChange: (pod: string) => void,
  onError?: (err: unknown) => void,
): Promise<() => Promise<void>> {
  const labelSelector = await w.podSelector();
  const pods = new PodWatch(w.clients.kc, w.clients.core, w.ns, labelSelector, onChange, onError);
  const stopSlices = await watchEndpoints(w, () => onChange("*"), onError);
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
export async function waitUntil<T>(
  w: FleetWorkload,
  what: string,
  timeoutMs: number,
  check: () => Promise<WaitCheck<T>>,
): Promise<T> {
  const deadline = w.now() + timeoutMs;
  let wake: (() => void) | undefined;
  const stop = await watchEndpoints(
    w,
    () => wake?.(),
    () => {},
  ).catch(() => async () => {});
  try {
    for (;;) {
      const r = await check();
      if ("done" in r) return r.done;
      const left = deadline - w.now();
      if (left <= 0) {
        throw new EbbError("step_timeout", `${what}: not within ${timeoutMs} ms (${r.why})`, {
          details: { reason: r.why },
        });
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(
          resolve,
          Math.min(left, Math.max(1, Math.min(r.retryInMs, w.config.pollIntervalMs))),
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
