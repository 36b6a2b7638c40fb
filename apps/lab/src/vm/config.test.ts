import { execFile } from "node:child_process";
import { access, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { buildLab, ctl, tempLabDir } from "../../test-support/vm.js";
import { createVm, parseVmConfig, readVmConfig, serverPath, VmConfigError, vmDir } from "./index.js";

const HOST = "127.0.3.15";
const valid = { name: "vm1", host: HOST, port: 8080 };

describe("vm.json validation", () => {
  it("fills in the defaults", () => {
    expect(parseVmConfig(valid)).toEqual({
      ...valid,
      keepAliveTimeoutMs: 75_000,
      drainLingerMs: 1_000,
      stopDeadlineMs: 30_000,
    });
  });

  it.each([
    [{ ...valid, port: "8080" }, /port: .*expected number/],
    [{ ...valid, port: 70_000 }, /port: /],
    [{ ...valid, keepAliveTimeoutMs: -1 }, /keepAliveTimeoutMs: /],
    [{ ...valid, drainLingerMs: 1.5 }, /drainLingerMs: /],
    [{ ...valid, name: "../x" }, /name: /],
    [
      { ...valid, drainLingerMs: 5_000, stopDeadlineMs: 1_000 },
      /drainLingerMs: must be below stopDeadlineMs/,
    ],
    [{ ...valid, faults: { hangOnStop: "yes" } }, /faults\.hangOnStop: /],
    [{ ...valid, faults: { hangOnStpo: true } }, /unknown field "faults\.hangOnStpo"/],
    [{ ...valid, prot: 1 }, /unknown field "prot"/],
    [{ host: HOST, port: 8080 }, /name: /],
  ])("names the bad field in %j", (value, message) => {
    expect(() => parseVmConfig(value)).toThrow(VmConfigError);
    expect(() => parseVmConfig(value)).toThrow(message);
  });
});

describe("a bad vm.json on disk", () => {
  let labDir: string | undefined;

  beforeAll(() => buildLab());
  afterEach(async () => {
    if (labDir) await rm(labDir, { recursive: true, force: true });
    labDir = undefined;
  });

  async function vmWithConfig(config: unknown): Promise<string> {
    labDir = await tempLabDir();
    const dir = await createVm(labDir, valid);
    await writeFile(path.join(dir, "vm.json"), JSON.stringify(config));
    return dir;
  }

  it("is refused by readVmConfig, ebb-vm start and the server itself, naming the field", async () => {
    const dir = await vmWithConfig({ ...valid, stopDeadlineMs: "soon" });
    await expect(readVmConfig(dir)).rejects.toThrow(/stopDeadlineMs: /);

    const started = await ctl(["start", "--dir", dir]);
    expect(started.code).toBe(1);
    expect(started.stderr).toMatch(/invalid .*vm\.json: stopDeadlineMs: /);

    const server = await new Promise<{ code: number | null; out: string }>((resolve) => {
      execFile(process.execPath, [serverPath(), "--dir", dir], (err, stdout) =>
        resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, out: stdout }),
      );
    });
    expect(server.code).toBe(1);
    expect(server.out).toMatch(/"level":"error".*stopDeadlineMs/);
    await expect(access(path.join(dir, "vm.pid"))).rejects.toThrow(/ENOENT/);
  });

  it("is not JSON: the error says so", async () => {
    const dir = await vmWithConfig({});
    await writeFile(path.join(dir, "vm.json"), "{ port: ");
    await expect(readVmConfig(dir)).rejects.toThrow(/not JSON/);
  });

  it("createVm refuses a bad spec before writing anything", async () => {
    labDir = await tempLabDir();
    await expect(createVm(labDir, { ...valid, port: 0 })).rejects.toThrow(/port: /);
    await expect(createVm(labDir, { ...valid, version: "1.0; rm -rf /" })).rejects.toThrow(/invalid VERSION/);
    await expect(access(vmDir(labDir, "vm1"))).rejects.toThrow(/ENOENT/);
    expect(() => vmDir(labDir!, "../etc")).toThrow(/invalid VM name/);
  });

  it("re-creating a VM updates vm.json and keeps its releases and health-check state", async () => {
    labDir = await tempLabDir();
    const dir = await createVm(labDir, valid);
    await ctl(["deploy", "2.0.0", "--dir", dir]);
    await ctl(["health", "fail", "--dir", dir]);
    await createVm(labDir, { ...valid, version: "9.9.9", drainLingerMs: 5 });
    expect(JSON.parse(await readFile(path.join(dir, "vm.json"), "utf8"))).toEqual({
      ...valid,
      drainLingerMs: 5,
    });
    expect(await readFile(path.join(dir, "current", "VERSION"), "utf8")).toBe("2.0.0\n");
    await expect(access(path.join(dir, "docroot", "health_check.html"))).rejects.toThrow(/ENOENT/);
  });
});

describe("ebb-vm usage errors exit 2 and name the argument", () => {
  let labDir: string | undefined;

  beforeAll(() => buildLab());
  afterEach(async () => {
    if (labDir) await rm(labDir, { recursive: true, force: true });
    labDir = undefined;
  });

  it.each([
    [[], /missing <command>/],
    [["reboot", "--dir", "/nowhere"], /unknown command "reboot"/],
    [["status"], /--dir <vmDir>, --vm <name>, or env EBB_VM_DIR or EBB_TARGET_NAME/],
    [["status", "--vm", "../x"], /--vm "..\/x"/],
    [["status", "--frobnicate"], /--frobnicate/],
  ])("%j", async (args, message) => {
    const r = await ctl(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it("names the argument that is wrong for an existing VM", async () => {
    labDir = await tempLabDir();
    const dir = await createVm(labDir, valid);
    const cases: [string[], RegExp][] = [
      [["stop", "--timeout-ms", "soon", "--dir", dir], /--timeout-ms "soon"/],
      [["start", "--json", "--dir", dir], /--json does not apply to start/],
      [["health", "maybe", "--dir", dir], /health: expected "fail" or "restore"/],
      [["health", "--dir", dir], /health: unexpected arguments/],
      [["deploy", "--dir", dir], /EBB_VERSION/],
      [["status", "--vm", "vm2", "--lab-dir", labDir], /--vm vm2: no VM at/],
    ];
    for (const [args, message] of cases) {
      const r = await ctl(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr, args.join(" ")).toMatch(message);
    }
    const viaEnv = await ctl(["status"], { EBB_LAB_DIR: labDir, EBB_VM_DIR: dir });
    expect(viaEnv.code).toBe(0);
    expect(viaEnv.stdout).toContain("vm1");
  });
});
