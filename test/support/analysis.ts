import { createHash } from "node:crypto";
import http from "node:http";
import { vmStatus } from "@ebb/lab";
import { waitFor } from "@ebb/testkit";
import { expect } from "vitest";
import { api, type RunningEbb } from "./ebb.js";
import type { givenLab } from "./world.js";

// The analysis scenarios' Given/When helpers (test/engine/analysis*.test.ts).

export type Lab = Awaited<ReturnType<typeof givenLab>>;

export interface RolloutView {
  status: string;
  failure: { target: string; step: string; code: string; message: string } | null;
  targets: { name: string; status: string }[];
}

export async function untilTerminal(e: RunningEbb, id: string): Promise<RolloutView> {
  return waitFor(
    async () => {
      const { body } = await api<RolloutView>(e, "GET", `/rollouts/${id}`);
      return ["succeeded", "failed", "aborted"].includes(body.status) ? body : undefined;
    },
    { timeoutMs: 40_000, intervalMs: 200, what: `rollout ${id} to finish` },
  );
}

export interface Traffic {
  stop(): void;
}

/**
 * One request per fresh connection through the VIP every 10 ms: keep-alive clients stay on the server that
 * took their connection, so a target back from its drain would see none of them; new flows are spread by
 * the device over every bound target, the one just deployed included.
 */
export function startTraffic(l: Lab): Traffic {
  const vip = new URL(l.device.vipUrl);
  const timer = setInterval(() => {
    http
      .get({ host: vip.hostname, port: Number(vip.port), path: "/", agent: false }, (res) => res.resume())
      .on("error", () => {});
  }, 10);
  return { stop: () => clearInterval(timer) };
}

/** l4-drain with an analysis step after the verify. */
export function runbook(name: string, analysis: string): string {
  return `apiVersion: ebb/v1
kind: Runbook
name: ${name}
balancer: l4
steps:
  - { id: fail-health-check, type: exec, kind: health-fail, idempotent: true, run: ["ebb-vm", "health", "fail"] }
  - { id: await-unbound, type: balancer.awaitUnbound }
  - { id: stop, type: exec, kind: stop, idempotent: true, run: ["ebb-vm", "stop"], timeout: 45s }
  - { id: await-quiet, type: traffic.awaitQuiet, holdFor: 0s }
  - { id: deploy, type: exec, kind: deploy, idempotent: true, run: ["ebb-vm", "deploy"] }
  - { id: start, type: exec, kind: start, idempotent: true, run: ["ebb-vm", "start"] }
  - { id: restore-health-check, type: exec, kind: health-restore, idempotent: true, run: ["ebb-vm", "health", "restore"] }
  - { id: await-bound, type: balancer.awaitBound }
  - id: analysis
    type: analysis
${analysis}`;
}

export async function givenRunbook(e: RunningEbb, name: string, source: string): Promise<void> {
  await e.prisma.runbookVersion.create({
    data: { name, version: 1, source, checksum: createHash("sha256").update(source).digest("hex") },
  });
}

export async function rollOut(e: RunningEbb, runbookName: string, version: string, batchSize: number) {
  const created = await api<{ id: string }>(e, "POST", "/rollouts", {
    fleet: "lab",
    version,
    runbook: runbookName,
    batchSize,
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return untilTerminal(e, created.body.id);
}

export async function runningVersions(l: Lab): Promise<(string | null | undefined)[]> {
  return Promise.all(l.vms.map(async (vm) => (await vmStatus(vm.dir)).runningVersion));
}
