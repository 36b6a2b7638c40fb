import { spawn } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// `--help` of every command the project ships answers and exits: it never opens a database, starts a
// redis-server, a lab or a device. Each runs with its data and lab folders in an empty temporary folder
// that must stay empty.

const root = path.resolve(import.meta.dirname, "../..");
const COMMANDS: Array<[string, string]> = [
  ["ebb", "packages/cli/bin/ebb.js"],
  ["api main.js", "apps/api/dist/main.js"],
  ["db:migrate", "apps/api/dist/database/migrate-cli.js"],
  ["ebb-lab", "apps/lab/bin/ebb-lab.js"],
  ["ebb-vm", "apps/lab/bin/ebb-vm.js"],
  ["ebb-load", "apps/lab/bin/ebb-load.js"],
  ["ebb-l4", "packages/l4/bin/ebb-l4.js"],
];

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "ebb-help-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function help(script: string): Promise<{ code: number | null; signal: string | null; stdout: string }> {
  const child = spawn(process.execPath, [path.join(root, script), "--help"], {
    cwd: dir,
    env: {
      PATH: process.env.PATH ?? "",
      EBB_DATA_DIR: path.join(dir, ".ebb"),
      EBB_LAB_DIR: path.join(dir, ".lab"),
      // Ports nothing else uses: a command that started anything would bind these, not the lab's defaults.
      EBB_API_HOST: "127.0.13.90",
      EBB_REDIS_PORT: "1",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  child.stdout.on("data", (d) => {
    stdout += String(d);
  });
  // A command that started a service would not exit: the test's own timeout turns that into a failure,
  // and this deadline makes sure nothing it started outlives the test.
  const deadline = setTimeout(() => child.kill("SIGKILL"), 15_000);
  return new Promise((resolve) =>
    child.on("close", (code, signal) => {
      clearTimeout(deadline);
      resolve({ code, signal, stdout });
    }),
  );
}

describe("--help of every command", () => {
  it.each(COMMANDS)("%s --help prints its usage, exits 0 and starts nothing", async (_name, script) => {
    const run = await help(script);
    expect(run.signal).toBeNull();
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/usage/i);
    expect(await readdir(dir)).toEqual([]);
  });
});
