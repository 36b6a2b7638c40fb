import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { freePort, waitFor } from "@ebb/testkit";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { LoadReport } from "./types.js";

const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));
const CLI = `${ROOT}apps/lab/dist/loadgen/cli.js`;
const HOST = "127.0.4.30";

let server: Server;
let port = 0;
const children: ChildProcess[] = [];

beforeAll(async () => {
  try {
    execFileSync(`${ROOT}node_modules/.bin/tsc`, ["-b", "apps/lab"], { cwd: ROOT, stdio: "pipe" });
  } catch (err) {
    // tsc still emits when another lab module does not type-check yet; only a missing CLI is fatal here.
    if (!existsSync(CLI)) throw new Error("building apps/lab produced no loadgen/cli.js", { cause: err });
  }
  server = createServer((_req, res) => res.end(JSON.stringify({ version: "2.0.0", host: "vm-cli" })));
  await new Promise<void>((r) => server.listen(0, HOST, r));
  port = (server.address() as AddressInfo).port;
});

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
});

afterAll(() => {
  server?.closeAllConnections();
  server?.close();
});

interface Run {
  child: ChildProcess;
  lines: () => unknown[];
  exited: Promise<number | null>;
  stderr: () => string;
}

function runCli(args: string[]): Run {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let out = "";
  let err = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
  const lines = () =>
    out
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => JSON.parse(l) as unknown);
  return { child, lines, exited, stderr: () => err };
}

describe("ebb-load CLI", () => {
  it("prints one line per second, and the final report on SIGINT with exit code 0", async () => {
    const run = runCli(["--target", `${HOST}:${port}`, "--clients", "2", "--rate", "50"]);
    await waitFor(() => run.lines().length >= 1, { timeoutMs: 5000, what: "a per-second line" });
    run.child.kill("SIGINT");
    expect(await run.exited).toBe(0);
    const lines = run.lines();
    const first = lines[0] as { second: number; ok: number; byServer: Record<string, number> };
    expect(first.second).toBe(0);
    expect(first.byServer["vm-cli"]).toBe(first.ok);
    const report = lines.at(-1) as LoadReport;
    expect(report.requests).toBeGreaterThan(0);
    expect(report.ok).toBe(report.requests);
    expect(report.byVersion).toEqual({ "2.0.0": report.requests });
  });

  it("stops after --duration and exits 1 when requests failed", async () => {
    const closed = await freePort(HOST);
    const run = runCli([
      "--target",
      `${HOST}:${closed}`,
      "--clients",
      "1",
      "--rate",
      "20",
      "--duration",
      "300ms",
    ]);
    expect(await run.exited).toBe(1);
    const report = run.lines().at(-1) as LoadReport;
    expect(report.errors.refused).toBeGreaterThan(0);
    expect(report.errors.refused).toBe(report.requests);
  });

  it("exits 2 on bad arguments, naming the flag", async () => {
    const run = runCli(["--target", `${HOST}:${port}`, "--clients", "zero"]);
    expect(await run.exited).toBe(2);
    expect(run.stderr()).toMatch(/--clients/);
  });
});
