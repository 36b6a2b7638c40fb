import { describe, expect, it } from "vitest";
import { ApiError } from "./errors.js";
import { PODS, SERVICES } from "./resources.js";
import { ObjectStore, type StoreEvent } from "./store.js";

const pod = (name: string) => ({
  metadata: { name, namespace: "lab", labels: { app: "web" } },
  spec: { containers: [{ name: "web" }] },
});

describe("ObjectStore", () => {
  it("gives every write a new, increasing resourceVersion and keeps identity fields", () => {
    const store = new ObjectStore();
    const a = store.create(PODS, pod("a"));
    const b = store.update(PODS, { ...a, metadata: { ...a.metadata, labels: { app: "db" }, uid: "forged" } });
    expect(Number(b.metadata.resourceVersion)).toBeGreaterThan(Number(a.metadata.resourceVersion));
    expect(b.metadata.uid).toBe(a.metadata.uid);
    expect(b.kind).toBe("Pod");
    expect(store.resourceVersion).toBe(b.metadata.resourceVersion);
  });

  it("does not write an update that changes nothing", () => {
    const store = new ObjectStore();
    const a = store.create(PODS, pod("a"));
    const same = store.update(PODS, a);
    expect(same.metadata.resourceVersion).toBe(a.metadata.resourceVersion);
    expect(store.eventsSince(Number(a.metadata.resourceVersion))).toEqual([]);
  });

  it("rejects a stale writer with 409 and a duplicate name with 409 AlreadyExists", () => {
    const store = new ObjectStore();
    const a = store.create(PODS, pod("a"));
    store.update(PODS, { ...a, metadata: { ...a.metadata, labels: { v: "2" } } });
    const stale = () =>
      store.update(
        PODS,
        { ...a, metadata: { ...a.metadata, labels: { v: "3" } } },
        a.metadata.resourceVersion,
      );
    expect(stale).toThrow(ApiError);
    expect(stale).toThrow(/modified/);
    expect(() => store.create(PODS, pod("a"))).toThrow(/already exists/);
  });

  it("delivers events in resourceVersion order even when a listener writes while handling one", () => {
    const store = new ObjectStore();
    const seen: number[] = [];
    store.subscribe((e) => {
      if (e.resource === PODS && e.type === "ADDED")
        store.create(SERVICES, {
          metadata: { name: e.object.metadata.name ?? "", namespace: "lab" },
          spec: {},
        });
    });
    store.subscribe((e: StoreEvent) => seen.push(e.rv));
    store.create(PODS, pod("a"));
    store.create(PODS, pod("b"));
    expect(seen).toEqual([...seen].sort((x, y) => x - y));
    expect(seen).toHaveLength(4);
  });

  it("replays history after a resourceVersion, and reports an expired one", () => {
    const store = new ObjectStore({ historyLimit: 2 });
    const a = store.create(PODS, pod("a"));
    store.create(PODS, pod("b"));
    store.create(PODS, pod("c"));
    expect(store.eventsSince(Number(a.metadata.resourceVersion))?.map((e) => e.object.metadata.name)).toEqual(
      ["b", "c"],
    );
    expect(store.eventsSince(Number(a.metadata.resourceVersion) - 1)).toBeNull();
  });
});
