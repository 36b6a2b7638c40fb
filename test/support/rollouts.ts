import { createHash } from "node:crypto";
import type { ApiErrorBody, RolloutTargetView, RolloutView } from "@ebb/contracts";
import { builtinRunbookSource } from "@ebb/core";
import { createVm, type LabVm, LoadGenerator, type LoadReport, readVmConfig, type VmFaults } from "@ebb/lab";
import { waitFor } from "@ebb/testkit";
import { type RunningEbb, TEST_ADMIN_TOKEN } from "./ebb.js";
import type { givenLab } from "./world.js";
import { totalErrors } from "./world.js";

/** Helpers for engine scenarios: talking to the rollouts API, scripting faulty VMs, load, device timing. */

export type Lab = Awaited<ReturnType<typeof givenLab>>;
export type { ApiErrorBody, RolloutTargetView, RolloutView };

export const TERMINAL = ["succeeded", "failed", "aborted", "rolled_back"] as const;

export interface HttpAnswer<T> {
  status: number;
  body: T;
}

/**
 * A request to the API with full control of what goes on the wire: `raw` sends the text as is (malformed
 * JSON), `body` is serialised, `headers` adds e.g. Idempotency-Key.
 */
export async function request<T = unknown>(
  ebb: RunningEbb,
  method: string,
  route: string,
  opts: { body?: unknown; raw?: string; headers?: Record<string, string> } = {},
): Promise<HttpAnswer<T>> {
  const text = opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body));
  const res = await fetch(`${ebb.apiUrl}${route}`, {
    method,
    headers: {
      authorization: `Bearer ${TEST_ADMIN_TOKEN}`,
      ...(text === undefined ? {} : { "content-type": "application/json" }),
      ...opts.headers,
    },
    ...(text === undefined ? {} : { body: text }),
  });
  const answer = await res.text();
  return { status: res.status, body: (answer ? JSON.parse(answer) : undefined) as T };
}

export interface CreateBody {
  fleet?: string;
  version?: string;
  runbook?: string;
  maxUnavailable?: number | string;
  maxSurge?: number | string;
  batchSize?: number | string;
  params?: Record<string, string>;
  force?: boolean;
  onFailure?: "halt" | "rollback";
}

/** POST /rollouts; fails the test unless it answers 201. */
export async function createRollout(
  ebb: RunningEbb,
  body: CreateBody,
  headers: Record<string, string> = {},
): Promise<string> {
  const res = await request<{ id: string }>(ebb, "POST", "/rollouts", { body, headers });
  if (res.status !== 201)
    throw new Error(`POST /rollouts answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body.id;
}

export async function getRollout(ebb: RunningEbb, id: string): Promise<RolloutView> {
  const res = await request<RolloutView>(ebb, "GET", `/rollouts/${id}`);
  if (res.status !== 200)
    throw new Error(`GET /rollouts/${id} answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}

export type Command = "pause" | "resume" | "abort" | "retry" | "approve";

/** POST /rollouts/:id/<command>; the answer as is (200 with the view, or the error body). */
export function command(
  ebb: RunningEbb,
  id: string,
  name: Command,
  body: Record<string, string> = {},
): Promise<HttpAnswer<RolloutView & ApiErrorBody>> {
  return request(ebb, "POST", `/rollouts/${id}/${name}`, { body });
}

/** Polls the rollout until `check` holds; returns the view that satisfied it. */
export function untilRollout(
  ebb: RunningEbb,
  id: string,
  check: (view: RolloutView) => boolean,
  what: string,
  timeoutMs = 30_000,
): Promise<RolloutView> {
  // The last view seen goes into the timeout's message: "last: undefined" says nothing about where the
  // rollout was when the wait gave up.
  let seen: RolloutView | undefined;
  return waitFor(
    async () => {
      const view = await getRollout(ebb, id);
      seen = view;
      return check(view) ? view : undefined;
    },
    { timeoutMs, intervalMs: 50, what },
  ).catch((err: unknown) => {
    if (seen && err instanceof Error) err.message += `\nrollout ${seen.status}:\n${describeTargets(seen)}`;
    throw err;
  });
}

export function untilTerminal(ebb: RunningEbb, id: string, timeoutMs = 30_000): Promise<RolloutView> {
  return untilRollout(
    ebb,
    id,
    (v) => (TERMINAL as readonly string[]).includes(v.status),
    `rollout ${id} to finish`,
    timeoutMs,
  );
}

export function targetOf(view: RolloutView, name: string): RolloutTargetView {
  const target = view.targets.find((t) => t.name === name);
  if (!target) throw new Error(`rollout ${view.id} has no target ${name}`);
  return target;
}

/** For assertion messages: the targets in one line each. */
export function describeTargets(view: RolloutView): string {
  return view.targets
    .map((t) => `${t.name} ${t.status} step ${t.stepIndex}/${t.step} #${t.attempt} ${t.error?.message ?? ""}`)
    .join("\n");
}

/** Stores a runbook version the way runbook CRUD will, so rollouts can name it. */
export async function storeRunbook(ebb: RunningEbb, name: string, source: string): Promise<void> {
  await ebb.prisma.runbookVersion.create({
    data: { name, version: 1, source, checksum: createHash("sha256").update(source).digest("hex") },
  });
}

/**
 * `l4-drain` with an approval gate between the drain and the deploy: a place where a target is reliably
 * stopped and out of service for as long as the test wants, whatever the drain's own timings.
 */
export function gatedDrainSource(name = "l4-drain-gated"): string {
  const source = builtinRunbookSource("l4-drain");
  const gate = "  - id: approve-deploy\n    type: approval\n    message: deploy now?\n\n";
  const at = source.indexOf("  - id: deploy\n");
  if (at < 0 || !/^name: l4-drain$/m.test(source)) throw new Error("l4-drain changed shape: update the test");
  return `${source.slice(0, at)}${gate}${source.slice(at)}`.replace(/^name: l4-drain$/m, `name: ${name}`);
}

/** The stored step runs of one target, in step then attempt order. */
export function stepRuns(ebb: RunningEbb, rolloutId: string, target: string) {
  return ebb.prisma.stepRun.findMany({
    where: { targetRun: { rolloutId, target: { name: target } } },
    orderBy: [{ stepIndex: "asc" }, { attempt: "asc" }],
  });
}

export function vm(lab: Lab, name: string): LabVm {
  const found = lab.vms.find((v) => v.name === name);
  if (!found) throw new Error(`the lab has no VM ${name}`);
  return found;
}

/**
 * Rewrites one VM's vm.json with these faults (none: `{}`), keeping its other settings and its releases.
 * `ebb-vm deploy` reads them when it runs; the server reads them when it starts.
 */
export async function setFaults(lab: Lab, name: string, faults: VmFaults): Promise<void> {
  const { faults: _old, ...config } = await readVmConfig(vm(lab, name).dir);
  await createVm(lab.labDir, { ...config, faults });
}

/**
 * Continuous keep-alive load through the VIP, resolved once every VM has answered (so a later "zero
 * errors" is about the rollout, not about start-up).
 */
export function startLoad(lab: Lab): Promise<LoadGenerator> {
  return startLoadThrough(lab.device.vipUrl, lab.vms.length);
}

/**
 * 8 keep-alive clients at 200 req/s in all through one VIP, or spread over several (client i uses VIP i mod
 * n), resolved once `servers` distinct VMs have answered.
 */
export async function startLoadThrough(
  vipUrls: string | readonly string[],
  servers: number,
): Promise<LoadGenerator> {
  const target = (Array.isArray(vipUrls) ? vipUrls : [vipUrls]).map((u: string) => {
    const vip = new URL(u);
    return { host: vip.hostname, port: Number(vip.port) };
  });
  const g = new LoadGenerator({ target, clients: 8, rate: 200 });
  g.start();
  try {
    await waitFor(() => Object.keys(g.snapshot().byServer).length === servers, {
      what: `all ${servers} VMs answering through ${target.map((t) => `${t.host}:${t.port}`).join(", ")}`,
    });
  } catch (err) {
    await g.stop();
    throw err;
  }
  return g;
}

/**
 * The runbook the product exists to replace: stop, deploy, start, with no drain at all. `gateBeforeDeploy`
 * holds each stopped server at an approval (see approveGatesAfter): a deploy that takes its time, so the
 * balancer's connect retries cannot hide the stop from clients. `failOnClientErrors`: stop the rollout at
 * the first drain whose balancer counted client errors.
 */
export function naiveRunbookSource(
  balancer: string,
  opts: { gateBeforeDeploy?: boolean; failOnClientErrors?: boolean } = {},
): string {
  return `apiVersion: ebb/v1
kind: Runbook
name: naive
balancer: ${balancer}
${opts.failOnClientErrors ? "failOnClientErrors: true\n" : ""}steps:
  - { id: stop, type: exec, run: ["ebb-vm", "stop"] }
${opts.gateBeforeDeploy ? "  - { id: approve-deploy, type: approval, message: deploy now? }\n" : ""}  - { id: deploy, type: exec, run: ["ebb-vm", "deploy"] }
  - { id: start, type: exec, run: ["ebb-vm", "start"] }
`;
}

/**
 * Releases each approval gate of the rollout once the load has sent `requests` more requests since the
 * target reached it (a deploy's worth of time, measured by the world rather than slept), until the rollout
 * ends. Resolves with its terminal view.
 */
export async function approveGatesAfter(
  ebb: RunningEbb,
  id: string,
  load: LoadGenerator,
  requests: number,
  timeoutMs = 60_000,
): Promise<RolloutView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const view = await untilRollout(
      ebb,
      id,
      (v) =>
        (TERMINAL as readonly string[]).includes(v.status) ||
        v.targets.some((t) => t.status === "awaitingApproval"),
      "the next approval gate or the end",
      Math.max(1_000, deadline - Date.now()),
    );
    if ((TERMINAL as readonly string[]).includes(view.status)) return view;
    const sent = load.snapshot().requests;
    await waitFor(() => load.snapshot().requests - sent >= requests, {
      what: `${requests} more requests before approving`,
    });
    const approved = await command(ebb, id, "approve");
    if (approved.status !== 200)
      throw new Error(`approve answered ${approved.status}: ${JSON.stringify(approved.body)}`);
  }
}

export function errorsOf(report: LoadReport): { count: number; samples: string } {
  return {
    count: totalErrors(report.errors),
    samples: `${JSON.stringify(report.errorSamples.slice(0, 5))} (the load generator's event loop stalled up to ${report.loopStallMaxMs} ms)`,
  };
}

/**
 * Waits until the device has this server bound and up. A wait, not a snapshot: at the lab's time scale a
 * check times out after 100 ms, so on a busy machine two late answers in a row can unbind a healthy
 * server for an interval. A target really left out of service (check failing) never gets there.
 */
export async function untilInService(lab: Lab, name: string): Promise<void> {
  await waitFor(
    () => {
      const s = lab.device.server(name);
      return s?.bound === true && s.health === "up";
    },
    { timeoutMs: 5_000, what: `${name} bound and up on the device` },
  );
}

/** How many health checks the device has run against this server so far. */
export function checksRun(lab: Lab, name: string): number {
  const server = lab.device.server(name);
  if (!server) throw new Error(`the device has no server ${name}`);
  return server.counters.checksPassed + server.counters.checksFailed;
}

/**
 * Waits until `n` more health checks of this server have completed, each with a later `lastCheck.at`: a
 * measure of time in the device's own clock (n intervals), instead of a sleep.
 */
export async function healthChecksPass(lab: Lab, name: string, n: number): Promise<void> {
  const server = () => lab.device.server(name);
  const firstAt = Date.parse(server()?.lastCheck?.at ?? new Date(0).toISOString());
  const first = checksRun(lab, name);
  const intervalMs = lab.device.config.healthCheck.intervalSeconds * 1_000 * lab.device.config.timeScale;
  await waitFor(
    () => {
      const at = Date.parse(server()?.lastCheck?.at ?? new Date(0).toISOString());
      return checksRun(lab, name) - first >= n && at - firstAt >= (n - 1) * intervalMs;
    },
    { timeoutMs: n * intervalMs * 5 + 5_000, what: `${n} health checks of ${name}` },
  );
}
