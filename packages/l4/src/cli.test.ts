import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import path from "node:path";
import { waitFor } from "@ebb/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type HttpUpstream, startHttpUpstream } from "../test-support/upstreams.js";
import { CliError, parseCliArgs, parseHostPort } from "./cli-args.js";

const root = path.resolve(import.meta.dirname, "../../..");

describe("CLI arguments", () => {
  it("parses addresses, servers with names and weights, and the time scale", () => {
    expect(
      parseCliArgs([
        "--vip",
        "127.0.2.1:0",
        "--admin=127.0.2.1:0",
        "--server",
        "web1=127.0.2.10:8080,3",
        "--server",
        "127.0.2.11:8080",
        "--time-scale",
        "0.1",
      ]),
    ).toEqual({
      config: { vip: { host: "127.0.2.1", port: 0 }, admin: { host: "127.0.2.1", port: 0 }, timeScale: 0.1 },
      servers: [
        { name: "web1", host: "127.0.2.10", port: 8080, weight: 3 },
        { host: "127.0.2.11", port: 8080 },
      ],
      help: false,
    });
    expect(parseHostPort("[::1]:8080")).toEqual({ host: "::1", port: 8080 });
  });

  it("reads a JSON config file with servers; flags win over it", () => {
    const file = JSON.stringify({
      scheduler: "leastConnections",
      timeScale: 0.5,
      servers: [{ name: "a", host: "127.0.2.10", port: 80 }],
    });
    const opts = parseCliArgs(["--config", "l4.json", "--time-scale", "0.1"], () => file);
    expect(opts.config).toEqual({ scheduler: "leastConnections", timeScale: 0.1 });
    expect(opts.servers).toEqual([{ name: "a", host: "127.0.2.10", port: 80 }]);
  });

  it("names the flag in errors", () => {
    expect(() => parseCliArgs(["--vip", "nope"])).toThrow(/--vip: expected HOST:PORT/);
    expect(() => parseCliArgs(["--vip"])).toThrow(CliError);
    expect(() => parseCliArgs(["--time-scale", "fast"])).toThrow(/--time-scale/);
    expect(() => parseCliArgs(["--bogus"])).toThrow(/unknown argument/);
  });
});

describe("ebb-l4 (built CLI)", () => {
  let child: ChildProcess | undefined;
  let up: HttpUpstream;
  let out = "";

  beforeAll(async () => {
    execFileSync(path.join(root, "node_modules/.bin/tsc"), ["-b", "packages/l4"], {
      cwd: root,
      stdio: "pipe",
    });
    up = await startHttpUpstream("127.0.2.10", "a");
  });

  afterAll(async () => {
    if (child && child.exitCode === null) child.kill("SIGKILL");
    await up.close();
  });

  it("starts, prints the VIP and admin URL, forwards, and stops on SIGTERM", async () => {
    child = spawn(
      process.execPath,
      [
        path.join(root, "packages/l4/dist/cli.js"),
        "--vip",
        "127.0.2.1:0",
        "--admin",
        "127.0.2.1:0",
        "--server",
        `a=${up.host}:${up.port}`,
        "--time-scale",
        "0.01",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    const c = child;
    c.stdout!.on("data", (b: Buffer) => {
      out += b.toString();
    });
    c.stderr!.on("data", (b: Buffer) => {
      out += b.toString();
    });
    const urls = await waitFor(() => /^VIP (http:\S+)\nadmin (http:\S+)$/m.exec(out), {
      what: `URLs in: ${out}`,
    });
    const [vip, admin] = [urls[1]!, urls[2]!];
    expect(vip).toMatch(/^http:\/\/127\.0\.2\.1:\d+$/);
    expect(await (await fetch(`${admin}/healthz`)).json()).toEqual({ ok: true });
    await waitFor(
      async () => ((await (await fetch(`${admin}/servers/a`)).json()) as { bound: boolean }).bound,
      {
        what: "a bound",
      },
    );
    const body = await (await fetch(`${vip}/`, { headers: { connection: "close" } })).json();
    expect(body).toEqual({ server: "a" });

    const exited = new Promise<number | null>((resolve) => c.once("exit", (code) => resolve(code)));
    c.kill("SIGTERM");
    expect(await exited).toBe(0);
  });

  it("exits 2 naming the bad flag", () => {
    let status: number | null = null;
    let stderr = "";
    try {
      execFileSync(process.execPath, [path.join(root, "packages/l4/dist/cli.js"), "--vip", "nope"], {
        stdio: "pipe",
      });
    } catch (err) {
      const e = err as { status: number | null; stderr: Buffer };
      status = e.status;
      stderr = e.stderr.toString();
    }
    expect(status).toBe(2);
    expect(stderr).toContain("--vip: expected HOST:PORT");
  });
});
