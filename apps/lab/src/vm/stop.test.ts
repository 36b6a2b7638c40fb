import { readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { freePort } from "@ebb/testkit";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { buildLab, ctl, tempLabDir } from "../../test-support/vm.js";
import { createVm, startVm, stopVm, type VmSpec, vmStatus } from "./index.js";
import { getJson } from "./probe.js";
import { isVmProcessAlive } from "./process.js";

const HOST = "127.0.3.14";

describe("stops that are not clean", () => {
  let labDir: string | undefined;
  let dir: string | undefined;

  beforeAll(() => buildLab());

  afterEach(async () => {
    if (dir) await stopVm(dir, { signal: "SIGKILL", timeoutMs: 5_000 });
    if (labDir) await rm(labDir, { recursive: true, force: true });
    dir = labDir = undefined;
  });

  async function newVm(spec: Partial<VmSpec>): Promise<{ dir: string; port: number; pid: number }> {
    labDir = await tempLabDir();
    const port = await freePort(HOST);
    dir = await createVm(labDir, { name: "vm1", host: HOST, port, drainLingerMs: 100, ...spec });
    const { pid } = await startVm(dir);
    return { dir, port, pid };
  }

  it("past stopDeadlineMs the VM exits 1 and records the dropped job; ebb-vm stop exits 1 naming it", async () => {
    const vm = await newVm({ stopDeadlineMs: 300 });
    const { job } = (await getJson(HOST, vm.port, "/work?ms=20000")) as { job: string };

    const r = await ctl(["stop", "--dir", vm.dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("stop deadline");
    expect(r.stderr).toContain(job);
    expect(isVmProcessAlive(vm.pid)).toBe(false);
    const lastExit = JSON.parse(await readFile(path.join(vm.dir, "last-exit.json"), "utf8")) as unknown;
    expect(lastExit).toMatchObject({
      clean: false,
      reason: "stop deadline",
      droppedJobs: [job],
      droppedRequests: 0,
    });
    expect(await readFile(path.join(vm.dir, "vm.log"), "utf8")).toMatch(
      new RegExp(`"level":"error".*stop deadline.*1 background job\\(s\\): ${job}`),
    );
  });

  it("with faults.hangOnStop, ebb-vm stop --timeout-ms 500 exits 1 saying the VM did not exit", async () => {
    const vm = await newVm({ faults: { hangOnStop: true } });
    const r = await ctl(["stop", "--timeout-ms", "500", "--dir", vm.dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/did not exit within 500 ms after SIGTERM/);
    expect(await vmStatus(vm.dir)).toMatchObject({ running: true, listening: true, pid: vm.pid });

    const killed = await ctl(["stop", "--kill", "--dir", vm.dir]);
    expect(killed.code).toBe(0);
    expect(killed.stdout).toContain("SIGKILL");
    expect(isVmProcessAlive(vm.pid)).toBe(false);
    expect(await vmStatus(vm.dir)).toMatchObject({ running: false, listening: false });
  });

  it("faults.hangOnStop armed and cleared in vm.json while the server runs: it hangs, then stops cleanly", async () => {
    // Given a server started without faults, then hangOnStop written to its vm.json
    const vm = await newVm({});
    const { faults: _none, ...config } = JSON.parse(await readFile(path.join(vm.dir, "vm.json"), "utf8"));
    await writeFile(
      path.join(vm.dir, "vm.json"),
      JSON.stringify({ ...config, faults: { hangOnStop: true } }),
    );
    // Then its next stop hangs (the fault campaign arms it on a server in service, no restart)
    const hung = await ctl(["stop", "--timeout-ms", "500", "--dir", vm.dir]);
    expect(hung.code).toBe(1);
    expect(isVmProcessAlive(vm.pid)).toBe(true);

    // and once the fault is cleared (the operator's fix), the next SIGTERM stops it cleanly
    await writeFile(path.join(vm.dir, "vm.json"), JSON.stringify(config));
    const stopped = await ctl(["stop", "--dir", vm.dir]);
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(stopped.stdout).toContain("clean");
    expect(isVmProcessAlive(vm.pid)).toBe(false);
  });
});
