import { readdir, rm } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { freePort } from "@ebb/testkit";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { buildLab, ctl, tempLabDir } from "../../test-support/vm.js";
import { createVm, deployVm, stopVm, vmStatus } from "./index.js";

const HOST = "127.0.3.11";

function get(port: number, urlPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: HOST, port, path: urlPath, agent: false }, (res) => {
        let body = "";
        res.on("data", (c: Buffer) => {
          body += c.toString();
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on("error", reject);
  });
}

describe("ebb-vm start / status / deploy / health", () => {
  let labDir: string;
  let dir: string;
  let port: number;

  beforeAll(() => buildLab());

  afterEach(async () => {
    if (dir) await stopVm(dir, { signal: "SIGKILL", timeoutMs: 5_000 });
    if (labDir) await rm(labDir, { recursive: true, force: true });
  });

  it("starts idempotently, reports status, deploys without restarting, serves the new version after restart", async () => {
    labDir = await tempLabDir();
    port = await freePort(HOST);
    dir = await createVm(labDir, { name: "vm1", host: HOST, port, drainLingerMs: 100 });

    const started = await ctl(["start", "--vm", "vm1", "--lab-dir", labDir]);
    expect(started).toMatchObject({ code: 0 });
    expect(started.stdout).toMatch(/^started vm1 1\.0\.0 pid \d+\n$/);
    const again = await ctl(["start", "--dir", dir]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("already running");

    const root = JSON.parse((await get(port, "/")).body) as Record<string, unknown>;
    expect(root).toMatchObject({ version: "1.0.0", host: "vm1", address: `${HOST}:${port}` });

    const status = await ctl(["status", "--json"], { EBB_VM_DIR: dir });
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({
      running: true,
      pid: root.pid,
      version: "1.0.0",
      healthCheckPresent: true,
      listening: true,
    });

    // What a runbook's exec step sees: Ebb's EBB_TARGET_NAME, the host's EBB_LAB_DIR, no VM arguments.
    const viaTarget = await ctl(["status", "--json"], { EBB_TARGET_NAME: "vm1", EBB_LAB_DIR: labDir });
    expect(JSON.parse(viaTarget.stdout)).toMatchObject({ name: "vm1", running: true });
    const unknown = await ctl(["status"], { EBB_TARGET_NAME: "vm9", EBB_LAB_DIR: labDir });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("EBB_TARGET_NAME=vm9: no VM");

    // Runbook steps pass the version in the environment.
    const deployed = await ctl(["deploy", "--dir", dir], { EBB_VERSION: "2.0.0" });
    expect(deployed).toMatchObject({ code: 0 });
    expect(JSON.parse((await get(port, "/")).body)).toMatchObject({ version: "1.0.0" });
    expect(await vmStatus(dir)).toMatchObject({ version: "2.0.0", runningVersion: "1.0.0" });

    expect(await ctl(["stop", "--dir", dir])).toMatchObject({ code: 0 });
    expect(await vmStatus(dir)).toMatchObject({ running: false, listening: false, pid: null });
    expect((await ctl(["stop", "--dir", dir])).stdout).toContain("not running");
    expect(await ctl(["start", "--dir", dir])).toMatchObject({ code: 0 });
    expect(JSON.parse((await get(port, "/")).body)).toMatchObject({ version: "2.0.0" });
  });

  it("start fails with the log tail when the server dies at start (port taken)", async () => {
    labDir = await tempLabDir();
    // Someone else's web server on the VM's address.
    const squatter = http.createServer((_req, res) => res.end("{}"));
    await new Promise<void>((r) => squatter.listen(0, HOST, r));
    try {
      port = (squatter.address() as AddressInfo).port;
      dir = await createVm(labDir, { name: "vm1", host: HOST, port });
      const r = await ctl(["start", "--dir", dir]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("exited with code 1 during start");
      expect(r.stderr).toContain("EADDRINUSE");
      expect((await vmStatus(dir)).running).toBe(false);
    } finally {
      squatter.closeAllConnections();
      await new Promise((r) => squatter.close(r));
    }
  });

  it("refuses a version that is not a plain release name, and creates nothing", async () => {
    labDir = await tempLabDir();
    port = await freePort(HOST);
    dir = await createVm(labDir, { name: "vm1", host: HOST, port });
    const before = await readdir(dir, { recursive: true });

    for (const bad of ["1.2.3; rm -rf /", "../x", "..", "$(id)", "a b", ""]) {
      const r = await ctl(["deploy", "--dir", dir], { EBB_VERSION: bad });
      expect(r.code, bad).toBe(2);
      expect(r.stderr, bad).toMatch(/VERSION/);
    }
    const r = await ctl(["deploy", "1.2.3; rm -rf /", "--dir", dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('invalid VERSION "1.2.3; rm -rf /"');
    await expect(deployVm(dir, "x/y")).rejects.toThrow(/invalid VERSION/);
    expect(await readdir(dir, { recursive: true })).toEqual(before);
    expect(await readdir(path.join(dir, "releases"))).toEqual(["1.0.0"]);
  });

  it("fails and restores the health check by renaming the file, idempotently", async () => {
    labDir = await tempLabDir();
    port = await freePort(HOST);
    dir = await createVm(labDir, { name: "vm1", host: HOST, port });
    expect(await ctl(["start", "--dir", dir])).toMatchObject({ code: 0 });
    expect((await get(port, "/health_check.html")).status).toBe(200);

    for (let i = 0; i < 2; i++) {
      expect(await ctl(["health", "fail", "--dir", dir])).toMatchObject({ code: 0 });
      expect((await get(port, "/health_check.html")).status).toBe(404);
    }
    expect((await vmStatus(dir)).healthCheckPresent).toBe(false);
    for (let i = 0; i < 2; i++) {
      expect(await ctl(["health", "restore", "--dir", dir])).toMatchObject({ code: 0 });
      expect((await get(port, "/health_check.html")).status).toBe(200);
    }
    // Only docroot is served: no way out of it.
    expect((await get(port, "/../vm.json")).status).toBe(404);
    expect((await get(port, "/%2e%2e/vm.json")).status).toBe(404);
  });

  it("answers 503 on the health check with faults.neverHealthy, and refuses deploys with faults.failDeploy", async () => {
    labDir = await tempLabDir();
    port = await freePort(HOST);
    dir = await createVm(labDir, {
      name: "vm1",
      host: HOST,
      port,
      faults: { neverHealthy: true, failDeploy: true },
    });
    expect(await ctl(["start", "--dir", dir])).toMatchObject({ code: 0 });
    expect((await get(port, "/health_check.html")).status).toBe(503);
    const r = await ctl(["deploy", "2.0.0", "--dir", dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("faults.failDeploy");
    expect(await readdir(path.join(dir, "releases"))).toEqual(["1.0.0"]);
  });
});
