import { haproxyAvailable, type LoadGenerator, registerHaproxyWorld, vmStatus } from "@ebb/lab";
import { afterEach, describe, expect, it } from "vitest";
import { givenEbbWith, type RunningEbb } from "../support/ebb.js";
import {
  givenHaproxy,
  givenSecondHaproxy,
  type HaproxyLab,
  type HaproxyNode,
  haproxyBalancerConfig,
} from "../support/haproxy.js";
import {
  approveGatesAfter,
  createRollout,
  describeTargets,
  gatedDrainSource,
  startLoadThrough,
  stepRuns,
  storeRunbook,
} from "../support/rollouts.js";
import { totalErrors } from "../support/world.js";

// issue #11 §2 and §5: a fleet behind two HAProxy nodes (an HA pair, both taking client traffic) where one
// node is slow to mark a server DOWN. Ebb must wait for every member; proceeding on the fast member's word
// stops a server the slow one still sends requests to.

const NET = 48;
/** The fast node checks every 200 ms, DOWN at the 2nd failure; the slow one every 400 ms, at the 4th. */
const SLOW = { interMs: 400, fall: 4, rise: 1, timeoutMs: 180 };

let world: HaproxyLab | undefined;
let slow: HaproxyNode | undefined;
let ebb: RunningEbb | undefined;
let load: LoadGenerator | undefined;

afterEach(async () => {
  await load?.stop();
  await ebb?.cleanup();
  await slow?.stop();
  await world?.cleanup();
  [load, ebb, slow, world] = [undefined, undefined, undefined, undefined];
});

/** l4-drain with an approval gate before the deploy: the server stays stopped while the test wants. */
const GATED = "l4-drain-gated";

/**
 * Given 2 VMs behind a fast and a slow HAProxy (HTTP mode: each request balanced anew), the fleet declaring
 * `members` as given, and keep-alive load through both VIPs; When Ebb rolls it with l4-drain (the L7 check,
 * so each node decides DOWN on its own timing), each server kept stopped for 500 requests' time (2.5 s, a
 * deploy's worth: longer than HAProxy's connect retries and the clients' 2 s deadline can hide): the
 * rollout's end, the load's report and the rollout id.
 */
async function rollBehindTwoNodes(members: (w: HaproxyLab, s: HaproxyNode) => Record<string, unknown>) {
  world = await givenHaproxy(NET, "http", { vms: 2 });
  slow = await givenSecondHaproxy(world, NET, SLOW);
  const [w, s] = [world, slow];
  ebb = await givenEbbWith(async (prisma) => {
    const id = await registerHaproxyWorld(prisma, w);
    await prisma.fleet.update({ where: { id }, data: { balancerConfig: members(w, s) as object } });
  }, NET);
  const e = ebb;
  await storeRunbook(e, GATED, gatedDrainSource(GATED));
  load = await startLoadThrough([w.vipUrl, s.vipUrl], w.vms.length);
  const g = load;
  const id = await createRollout(e, { fleet: "lab-haproxy", version: "2.0.0", runbook: GATED });
  const done = await approveGatesAfter(e, id, g, 500);
  const report = await g.stop();
  load = undefined;
  return { done, report, id };
}

describe.skipIf(!haproxyAvailable())("a fleet behind two HAProxy nodes, one slow to mark DOWN", () => {
  it("Ebb waits for the slow member before stopping each server: zero failed requests", async () => {
    const { done, report, id } = await rollBehindTwoNodes((w, s) => ({
      members: [
        { name: "fast", ...haproxyBalancerConfig(w) },
        { name: "slow", ...s.balancerConfig },
      ],
    }));
    expect(done.status, describeTargets(done)).toBe("succeeded");
    expect(totalErrors(report.errors), JSON.stringify(report.errorSamples.slice(0, 5))).toBe(0);
    for (const vm of world!.vms)
      expect(await vmStatus(vm.dir)).toMatchObject({ running: true, runningVersion: "2.0.0" });
    // Each unbind was seen half-done (the fast node out, the slow one still sending), and waited out.
    for (const vm of world!.vms) {
      const unbound = (await stepRuns(ebb!, id, vm.name)).find((r) => r.stepId === "await-unbound");
      const seen = unbound?.observations as {
        bound?: boolean;
        members?: Record<string, { bound: boolean }>;
      }[];
      expect(seen, `${vm.name}: ${JSON.stringify(seen)}`).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            bound: true,
            members: expect.objectContaining({
              fast: expect.objectContaining({ bound: false }),
              slow: expect.objectContaining({ bound: true }),
            }),
          }),
          expect.objectContaining({ bound: false }),
        ]),
      );
    }
  }, 40_000);

  it("proceeding on the fast member's word alone (the fleet declares only it) loses requests", async () => {
    const { done, report } = await rollBehindTwoNodes((w) => haproxyBalancerConfig(w));
    expect(done.status, describeTargets(done)).toBe("succeeded");
    expect(totalErrors(report.errors)).toBeGreaterThan(0);
  }, 40_000);
});
