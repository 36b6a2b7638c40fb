import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { Agent, get } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort, waitFor } from "@ebb/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// What `npm start` runs (apps/lab/dist/main.js), as a user's script would see it: the VIP answers, the
// admin API lists the session of a keep-alive client, Ctrl-C stops every VM.

const root = path.resolve(import.meta.dirname, "../..");
let lab: ChildProcess;
let labDir: string;
let out = "";
let vip: string;
let admin: string;

function getJson(url: string, agent?: Agent): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    get(url, agent ? { agent } : {}, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => {
        body += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(body) }));
    }).on("error", reject);
  });
}

beforeAll(async () => {
  labDir = await mkdtemp(path.join(tmpdir(), "ebb-start-"));
  const [vipPort, adminPort] = [await freePort("127.0.9.1"), await freePort("127.0.9.1")];
  vip = `http://127.0.9.1:${vipPort}`;
  admin = `http://127.0.9.1:${adminPort}`;
  lab = spawn(process.execPath, [path.join(root, "apps/lab/dist/main.js")], {
    cwd: root,
    env: {
      ...process.env,
      EBB_LAB_DIR: labDir,
      EBB_LAB_VMS: "2",
      EBB_LAB_VM_FIRST_HOST: "127.0.9.11",
      EBB_L4_VIP: `127.0.9.1:${vipPort}`,
      EBB_L4_ADMIN: `127.0.9.1:${adminPort}`,
      EBB_LAB_TIME_SCALE: "0.02",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  lab.stdout!.on("data", (c: Buffer) => {
    out += c.toString();
  });
  lab.stderr!.on("data", (c: Buffer) => {
    out += c.toString();
  });
  await waitFor(() => out.includes("Ebb lab is up."), {
    timeoutMs: 20_000,
    what: `lab banner (output: ${out})`,
  });
});

afterAll(async () => {
  if (lab.exitCode === null) lab.kill("SIGKILL");
  await rm(labDir, { recursive: true, force: true });
});

describe("npm start (the lab)", () => {
  it("prints the VIP and admin URL, and the VIP answers with a VM's version and host", async () => {
    expect(out).toContain(vip);
    expect(out).toContain(admin);
    await waitFor(async () => Array.isArray((await getJson(`${admin}/servers`)).body), {
      what: "admin API",
    });
    const res = await waitFor(
      async () => {
        const r = await getJson(`${vip}/`);
        return r.status === 200 ? r : undefined;
      },
      { what: "a 200 through the VIP" },
    );
    expect(res.body).toMatchObject({ version: "1.0.0", host: expect.stringMatching(/^vm[12]$/) });
  });

  it("the admin API lists the session of a keep-alive client while it runs", async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      await getJson(`${vip}/`, agent);
      const sessions = (await getJson(`${admin}/sessions`)).body as { total: number; entries: unknown[] };
      expect(sessions.total).toBeGreaterThanOrEqual(1);
      expect(sessions.entries[0]).toMatchObject({ client: expect.stringMatching(/^127\.0\.\d+\.\d+:\d+$/) });
    } finally {
      agent.destroy();
    }
  });

  it("Ctrl-C stops the device and every VM", async () => {
    const exited = new Promise<number | null>((resolve) => lab.once("exit", (code) => resolve(code)));
    lab.kill("SIGINT");
    expect(await exited).toBe(0);
    expect(existsSync(path.join(labDir, "vms/vm1/vm.pid"))).toBe(false);
    expect(existsSync(path.join(labDir, "vms/vm2/vm.pid"))).toBe(false);
  });
});
