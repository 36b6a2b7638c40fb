import { DefaultDriverRegistry } from "@ebb/drivers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestDatabase, testDatabases } from "../../test-support/database.js";
import { registerLabFleet } from "./lab-fleet.js";
import { upsertFleet } from "./upsert-fleet.js";

// How the lab (and anyone registering a fleet at start) writes fleets: through the fleets feature, with
// the checks of POST /fleets, idempotent across restarts. Real embedded database; building a balancer
// to check its config opens no connection, so no device is needed.

describe("upsertFleet", () => {
  let db: TestDatabase;
  const drivers = new DefaultDriverRegistry({});

  beforeAll(async () => {
    db = await testDatabases()[0]!.open();
  });

  afterAll(async () => {
    await db?.drop();
  });

  const lab = (host: string) => ({
    name: "lab",
    adminUrl: "http://127.0.0.1:8081",
    vipUrl: "http://127.0.0.1:8080",
    labDir: "/tmp/lab",
    path: "/usr/bin:/bin",
    targets: [
      { name: "vm1", host, port: 8080, facts: { estimates: { stopMs: 1_500 } } },
      { name: "vm2", host: "127.0.0.12", port: 8080 },
    ],
  });

  it("registers the lab fleet at every start: created once, then brought to the new config in place", async () => {
    const first = await registerLabFleet(db.prisma, lab("127.0.0.11"));
    const again = await registerLabFleet(db.prisma, lab("127.0.0.21"));
    expect(again).toBe(first);
    const targets = await db.prisma.target.findMany({ where: { fleetId: first }, orderBy: { name: "asc" } });
    expect(targets.map((t) => [t.name, t.host])).toEqual([
      ["vm1", "127.0.0.21"],
      ["vm2", "127.0.0.12"],
    ]);
    expect(targets[0]!.executorConfig).toEqual({
      env: { EBB_LAB_DIR: "/tmp/lab", PATH: "/usr/bin:/bin" },
    });
    expect(targets[0]!.facts).toEqual({ estimates: { stopMs: 1_500 } });
  });

  it("refuses what POST /fleets refuses, naming the field, and writes nothing", async () => {
    const bad = (over: object) =>
      upsertFleet(
        { prisma: db.prisma, drivers },
        {
          name: "bad",
          balancer: "l4",
          balancerConfig: { adminUrl: "http://127.0.0.1:8081" },
          targets: [{ name: "vm1", host: "127.0.0.11", port: 8080 }],
          ...over,
        },
      );
    await expect(bad({ balancerConfig: { adminUrl: "not a url" } })).rejects.toMatchObject({
      issues: [expect.objectContaining({ path: "balancerConfig.adminUrl" })],
    });
    await expect(
      bad({
        targets: [
          { name: "vm1", host: "127.0.0.11", port: 8080 },
          { name: "vm1", host: "127.0.0.12", port: 8080 },
        ],
      }),
    ).rejects.toMatchObject({ issues: [{ path: "targets.1.name", message: 'duplicate target "vm1"' }] });
    await expect(bad({ name: "has spaces" })).rejects.toThrow(/name/);
    expect(await db.prisma.fleet.count({ where: { name: { in: ["bad", "has spaces"] } } })).toBe(0);
  });
});
