import { describe, expect, it } from "vitest";
import { changesTargets, targetDiscovery } from "./discovery.js";

const stored = (name: string, host: string, gone = false) => ({ name, host, port: 8080, gone });
const member = (name: string, host: string) => ({ name, host, port: 8080 });

describe("a fleet's targets discovered on its platform", () => {
  it("a Deployment rolled: the old pods are gone, the new ones added, the plan is over the new ones", () => {
    const change = targetDiscovery(
      [stored("web-a", "10.0.0.1"), stored("web-b", "10.0.0.2")],
      [member("web-d", "10.0.0.4"), member("web-c", "10.0.0.3")],
    );
    expect(change.gone).toEqual(["web-a", "web-b"]);
    expect(change.added.map((m) => m.name)).toEqual(["web-c", "web-d"]);
    expect(change.current).toEqual(["web-c", "web-d"]);
    expect(change.returned).toEqual([]);
    expect(changesTargets(change)).toBe(true);
  });

  it("a target already marked gone is not gone again; one that comes back is returned", () => {
    const change = targetDiscovery(
      [stored("db-0", "10.0.0.1"), stored("db-1", "10.0.0.2", true), stored("db-2", "10.0.0.3", true)],
      [member("db-0", "10.0.0.1"), member("db-2", "10.0.0.9")],
    );
    expect(change.gone).toEqual([]);
    expect(change.returned).toEqual(["db-2"]);
    expect(change.moved).toEqual([{ name: "db-2", host: "10.0.0.9", port: 8080 }]);
    expect(change.current).toEqual(["db-0", "db-2"]);
  });

  it("the same pods: no change; a pod without an address yet keeps the stored one", () => {
    const change = targetDiscovery([stored("db-0", "10.0.0.1")], [member("db-0", "")]);
    expect(changesTargets(change)).toBe(false);
    expect(change.current).toEqual(["db-0"]);
  });
});
