import { describe, expect, it } from "vitest";
import { Harness } from "../test-support/memory.js";
import { EventApplier } from "./apply.js";

const A = "00000000-0000-4000-8000-00000000000a";
const B = "00000000-0000-4000-8000-00000000000b";

describe("EventApplier: commit slots", () => {
  it("runs at most maxCommits transactions at once; a rollout's events that wait for a slot commit as one batch", async () => {
    const h = new Harness(["vm1", "vm2"]);
    h.addRollout(A, undefined, [["vm1"]]);
    h.addRollout(B, undefined, [["vm2"]]);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const transactions: string[] = [];
    let active = 0;
    let maxActive = 0;
    const inner = h.store.withLockedRollout.bind(h.store);
    h.store.withLockedRollout = async (id, fn) => {
      transactions.push(id === A ? "A" : "B");
      active++;
      maxActive = Math.max(maxActive, active);
      try {
        if (id === A) await gate;
        return await inner(id, fn);
      } finally {
        active--;
      }
    };
    const applier = new EventApplier(h.store, [], () => {}, 1);
    const now = h.clock.now();
    const a = applier.apply(A, { type: "start" }, now);
    // A holds the only slot; B's three events arrive while it waits for one.
    const b = [
      applier.apply(B, { type: "start" }, now),
      applier.apply(B, { type: "pause", by: "ops" }, now),
      applier.apply(B, { type: "resume", by: "ops" }, now),
    ];
    await new Promise((resolve) => setImmediate(resolve));
    expect(transactions).toEqual(["A"]);
    release();
    await Promise.all([a, ...b]);
    expect(transactions).toEqual(["A", "B"]);
    expect(maxActive).toBe(1);
    expect(h.state(B).status).toBe("running");
  });
});
