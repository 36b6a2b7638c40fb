import { readFile, rm } from "node:fs/promises";
import path from "node:path";
import { freePort, waitFor } from "@ebb/testkit";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { buildLab, ctl, tempLabDir } from "../../test-support/vm.js";
import { createVm, startVm, stopVm } from "./index.js";
import { getJson } from "./probe.js";

const HOST = "127.0.3.13";

describe("background jobs across a stop", () => {
  let labDir: string | undefined;
  let dir: string | undefined;

  beforeAll(() => buildLab());

  afterEach(async () => {
    if (dir) await stopVm(dir, { signal: "SIGKILL", timeoutMs: 5_000 });
    if (labDir) await rm(labDir, { recursive: true, force: true });
    dir = labDir = undefined;
  });

  async function newVm(): Promise<{ dir: string; port: number }> {
    labDir = await tempLabDir();
    const port = await freePort(HOST);
    dir = await createVm(labDir, {
      name: "vm1",
      host: HOST,
      port,
      drainLingerMs: 100,
      stopDeadlineMs: 5_000,
    });
    await startVm(dir);
    return { dir, port };
  }

  const read = (d: string, file: string) => readFile(path.join(d, file), "utf8");

  it("a graceful stop waits for a job started by an already-answered request", async () => {
    const vm = await newVm();
    const { job } = (await getJson(HOST, vm.port, "/work?ms=500")) as { job: string };
    expect(await read(vm.dir, "jobs.journal")).toBe(`start ${job}\n`);

    const stopped = await ctl(["stop", "--dir", vm.dir]);
    expect(stopped).toMatchObject({ code: 0 });
    // The process exited only after the job finished: its "done" line is there.
    expect(await read(vm.dir, "jobs.journal")).toBe(`start ${job}\ndone ${job}\n`);
    expect(JSON.parse(await read(vm.dir, "last-exit.json"))).toMatchObject({ clean: true, droppedJobs: [] });
    const log = await read(vm.dir, "vm.log");
    expect(log.indexOf("background job done")).toBeLessThan(log.indexOf("stopped cleanly"));
  });

  it("a SIGKILL loses the job; the next start reports it in /status and in the log", async () => {
    const vm = await newVm();
    const { job } = (await getJson(HOST, vm.port, "/work?ms=10000")) as { job: string };
    const killed = await stopVm(vm.dir, { signal: "SIGKILL" });
    expect(killed).toMatchObject({ clean: false, outcome: "stopped", droppedJobs: [job] });
    expect(await read(vm.dir, "jobs.journal")).toBe(`start ${job}\n`);

    await startVm(vm.dir);
    const status = (await getJson(HOST, vm.port, "/status")) as { lostOnLastRun: string[] };
    expect(status.lostOnLastRun).toEqual([job]);
    await waitFor(async () => (await read(vm.dir, "vm.log")).includes(`lost by the previous run`), {
      timeoutMs: 2_000,
      what: "the lost-jobs warning in vm.log",
    });
    expect(await read(vm.dir, "vm.log")).toMatch(
      new RegExp(`"level":"warn".*lost by the previous run.*${job}`),
    );
    // Compacted: a clean run after this one reports nothing lost.
    expect(await read(vm.dir, "jobs.journal")).toBe("");
    expect(await stopVm(vm.dir)).toMatchObject({ clean: true });
    await startVm(vm.dir);
    expect(((await getJson(HOST, vm.port, "/status")) as { lostOnLastRun: string[] }).lostOnLastRun).toEqual(
      [],
    );
  });
});
