import type { RolloutDetail } from "@ebb/contracts";
import { LoadGenerator, registerWorld, vmStatus } from "@ebb/lab";
import { waitFor } from "@ebb/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testDatabases } from "../../apps/api/test-support/database.js";
import { TEST_ADMIN_TOKEN } from "../support/ebb.js";
import { setFaults } from "../support/rollouts.js";
import { givenSplitEbb, type SplitEbb } from "../support/split.js";
import { givenLab, totalErrors } from "../support/world.js";

// Rollback (issue 14 §2) survives `kill -9` of the worker: killed while the rollback rollout runs a command
// and again while it waits on the device, a new worker resumes it, the original ends rolled_back, every VM
// runs the previous version and the clients under load see no error. Real worker processes: PostgreSQL only
// (like the other kill -9 suites; skipped with a warning where it is not reachable).

const NET = 45;
const auth = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
const postgres = testDatabases().find((v) => v.kind === "postgres");
const TERMINAL = ["succeeded", "failed", "aborted", "rolled_back"];
const EXEC_STEPS = new Set(["fail-health-check", "stop", "deploy", "start", "restore-health-check"]);
const WAIT_STEPS = new Set(["await-unbound", "await-quiet", "await-bound"]);

type Lab = Awaited<ReturnType<typeof givenLab>>;
let lab: Lab;
let ebb: SplitEbb;

async function detail(id: string): Promise<RolloutDetail> {
  return (await (await fetch(`${ebb.api.apiUrl}/rollouts/${id}`, { headers: auth })).json()) as RolloutDetail;
}

describe.skipIf(!postgres)("kill -9 of the worker during a rollback", () => {
  beforeAll(async () => {
    lab = await givenLab(NET, { vms: 3 });
    ebb = await givenSplitEbb({
      net: NET,
      postgres: postgres!,
      register: (db) => registerWorld(db.prisma, lab),
    });
    ebb.startWorker();
  }, 60_000);

  afterAll(async () => {
    await ebb?.cleanup();
    await lab?.cleanup();
  });

  it("a new worker resumes the rollback; the original ends rolled_back with no client error", async () => {
    // Given vm2 whose deploy of the new release fails, under keep-alive load
    await setFaults(lab, "vm2", { failDeploy: true });
    const vip = new URL(lab.device.vipUrl);
    const load = new LoadGenerator({
      target: { host: vip.hostname, port: Number(vip.port) },
      clients: 8,
      rate: 200,
    });
    load.start();
    try {
      // When 2.0.0 rolls out with onFailure: rollback and vm2 fails
      const res = await fetch(`${ebb.api.apiUrl}/rollouts`, {
        method: "POST",
        headers: { "content-type": "application/json", ...auth },
        body: JSON.stringify({ fleet: "lab", version: "2.0.0", runbook: "l4-drain", onFailure: "rollback" }),
      });
      expect(res.status, await res.clone().text()).toBe(201);
      const { id } = (await res.json()) as { id: string };
      const rollbackId = await waitFor(
        async () => {
          const r = await detail(id);
          if (r.status === "failed")
            throw new Error(`halted instead of rolling back: ${JSON.stringify(r.rollback)}`);
          return r.rollback?.rolloutId ?? undefined;
        },
        { timeoutMs: 30_000, intervalMs: 20, what: "the rollback rollout" },
      );
      await setFaults(lab, "vm2", {});

      // and the worker is killed twice during the rollback: in a command, then in a wait
      for (const phase of [EXEC_STEPS, WAIT_STEPS]) {
        await waitFor(
          async () => {
            const r = await detail(rollbackId);
            const busy = r.targets.find((t) => (t.status === "running" || t.status === "waiting") && t.step);
            return busy && phase.has(busy.step!) ? true : undefined;
          },
          { timeoutMs: 30_000, intervalMs: 20, what: "a kill point in the rollback" },
        );
        await ebb.killWorker();
        ebb.startWorker();
      }

      // Then the rollback completes and the original ends rolled_back
      const original = await waitFor(
        async () => {
          const r = await detail(id);
          return TERMINAL.includes(r.status) ? r : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 50, what: "the original to end" },
      );
      const rb = await detail(rollbackId);
      expect(rb.status, JSON.stringify(rb.targets.map((t) => [t.name, t.status, t.error]))).toBe("succeeded");
      expect(original.status).toBe("rolled_back");
      for (const vm of lab.vms)
        expect(await vmStatus(vm.dir)).toMatchObject({ running: true, runningVersion: "1.0.0" });
    } finally {
      const report = await load.stop();
      expect(totalErrors(report.errors), JSON.stringify(report.errorSamples.slice(0, 5))).toBe(0);
    }
  }, 90_000);
});
