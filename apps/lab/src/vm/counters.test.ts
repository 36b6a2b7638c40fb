import { rm } from "node:fs/promises";
import http from "node:http";
import { freePort } from "@ebb/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildLab, tempLabDir } from "../../test-support/vm.js";
import { createVm, startVm, stopVm } from "./index.js";
import { getJson } from "./probe.js";

const HOST = "127.0.58.13";

interface Status {
  connectionsAccepted: number;
  requestsTotal: number;
  traffic: { connections: number; requests: number; active: number };
}

/** `n` requests on one keep-alive connection; resolves once it is closed again. */
async function session(port: number, paths: string[]): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  for (const path of paths) {
    await new Promise<void>((resolve, reject) => {
      http
        .get({ host: HOST, port, path, agent }, (res) => {
          res.resume();
          res.on("end", resolve);
        })
        .on("error", reject);
    });
  }
  agent.destroy();
}

describe("the lab VM's cumulative traffic counters (GET /status)", () => {
  let labDir: string;
  let dir: string;
  let port: number;

  beforeAll(async () => {
    buildLab();
    labDir = await tempLabDir();
    port = await freePort(HOST);
    dir = await createVm(labDir, {
      name: "vm1",
      host: HOST,
      port,
      drainLingerMs: 100,
      stopDeadlineMs: 5_000,
    });
    await startVm(dir);
  });
  afterAll(async () => {
    if (dir) await stopVm(dir, { signal: "SIGKILL", timeoutMs: 5_000 });
    if (labDir) await rm(labDir, { recursive: true, force: true });
  });

  it("count sessions and requests, leaving out health checks and /status scrapes", async () => {
    const before = (await getJson(HOST, port, "/status")) as Status;
    await session(port, ["/", "/", "/health_check.html"]);
    await session(port, ["/health_check.html", "/status"]);
    await session(port, ["/status?x=1", "/"]);
    const after = (await getJson(HOST, port, "/status")) as Status;
    // Every connection and request, this scrape's own included...
    expect(after.connectionsAccepted - before.connectionsAccepted).toBe(4);
    expect(after.requestsTotal - before.requestsTotal).toBe(8);
    // ...but traffic is two sessions (the second carried only monitoring) and three requests.
    expect(after.traffic.connections - before.traffic.connections).toBe(2);
    expect(after.traffic.requests - before.traffic.requests).toBe(3);
    expect(after.traffic.active).toBe(0);
  });
});
