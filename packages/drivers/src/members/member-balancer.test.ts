import { boundCondition, isEbbError, unboundCondition } from "@ebb/core";
import { waitFor } from "@ebb/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { startDevice, startL4Lab } from "../../test-support/l4-lab.js";
import { Teardown } from "../../test-support/teardown.js";
import { createBalancer } from "../registry.js";

const teardown = new Teardown();
afterEach(() => teardown.run());

/** Two real devices in front of the same servers: an HA pair. */
async function givenPair() {
  const { device: a, upstreams, targets } = await startL4Lab(teardown, ["vm1"]);
  const b = await startDevice(teardown, upstreams);
  const balancer = createBalancer({
    name: "pair",
    balancer: "l4",
    balancerConfig: {
      members: [
        { name: "a", adminUrl: a.adminUrl },
        { name: "b", adminUrl: b.adminUrl },
      ],
    },
  });
  const vm1 = targets.vm1!;
  await waitFor(async () => boundCondition(await balancer.observe(vm1)).met, { what: "vm1 up on both" });
  return { a, b, balancer, vm1 };
}

describe("a fleet behind several balancer members", () => {
  it("is unbound only when every member says so, and bound again only when every member does", async () => {
    const { a, b, balancer, vm1 } = await givenPair();
    a.setAdminState("vm1", "disabled");
    const half = await balancer.observe(vm1);
    // One member still sends vm1 new flows: neither wait may proceed on the other's word.
    expect(unboundCondition(half).met).toBe(false);
    expect(boundCondition(half).met).toBe(false);
    expect(half.members).toMatchObject({
      a: { state: "disabled", bound: false },
      b: { bound: true },
    });
    b.setAdminState("vm1", "disabled");
    expect(unboundCondition(await balancer.observe(vm1)).met).toBe(true);
    a.setAdminState("vm1", "enabled");
    expect(boundCondition(await balancer.observe(vm1)).met).toBe(false);
    b.setAdminState("vm1", "enabled");
    // Up on both (a health check may read one of them suspect for a moment on a busy machine).
    await waitFor(async () => boundCondition(await balancer.observe(vm1)).met, { what: "vm1 bound on both" });
  });

  it("disable and enable act on every member", async () => {
    const { a, b, balancer, vm1 } = await givenPair();
    await balancer.admin!.disable(vm1);
    expect([a.server("vm1")!.adminState, b.server("vm1")!.adminState]).toEqual(["disabled", "disabled"]);
    await balancer.admin!.enable(vm1);
    expect([a.server("vm1")!.adminState, b.server("vm1")!.adminState]).toEqual(["enabled", "enabled"]);
  });

  it("a member that cannot be reached makes the check wait (retryable) and names the member", async () => {
    const { b, balancer, vm1 } = await givenPair();
    await b.stop();
    const err = await balancer.observe(vm1).then(
      () => new Error("expected a rejection"),
      (e: unknown) => e,
    );
    expect(isEbbError(err)).toBe(true);
    expect((err as { retryable: boolean }).retryable).toBe(true);
    expect((err as Error).message).toContain("balancer member b");
  });

  it("traffic is the sum over members, with each member's share", async () => {
    const { balancer, vm1 } = await givenPair();
    const sample = await balancer.traffic(vm1);
    expect(Object.keys(sample.members ?? {})).toEqual(["a", "b"]);
    expect(sample.newSessions).toBe(
      (sample.members?.a?.newSessions ?? 0) + (sample.members?.b?.newSessions ?? 0),
    );
  });

  it("a snapshot keeps each member's own view of each target beside the agreement", async () => {
    const { a, balancer, vm1 } = await givenPair();
    a.setAdminState("vm1", "disabled");
    const [snap] = await balancer.snapshot!([vm1]);
    expect(snap).toMatchObject({ name: "vm1", state: "suspect", bound: true });
    expect(snap!.members).toMatchObject({
      a: { state: "disabled", bound: false },
      b: { state: "up", bound: true },
    });
    expect(snap!.sessionsOpened).toBe(
      (snap!.members?.a?.sessionsOpened ?? 0) + (snap!.members?.b?.sessionsOpened ?? 0),
    );
  });

  it("a bad members config names the field", () => {
    expect(() =>
      createBalancer({
        name: "f",
        balancer: "l4",
        balancerConfig: { members: [{ name: "a", adminUrl: "x" }, { name: "a" }] },
      }),
    ).toThrow(/balancerConfig/);
    expect(() => createBalancer({ name: "f", balancer: "l4", balancerConfig: { members: [] } })).toThrow(
      /balancerConfig.members/,
    );
  });
});
