import { execFile, spawn } from "node:child_process";
import { mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { freePort, waitFor } from "@ebb/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, givenEbb, type RunningEbb, TEST_ADMIN_TOKEN } from "../support/ebb.js";
import {
  command,
  gatedDrainSource,
  type Lab,
  setFaults,
  storeRunbook,
  untilRollout,
  untilTerminal,
} from "../support/rollouts.js";
import { givenLab } from "../support/world.js";

// The `ebb` command as CI runs it: the built binary, a child process, talking to a running API through
// EBB_URL and EBB_TOKEN. Its exit code is the contract: 0 succeeded, 1 failed, 3 aborted, 2 bad usage.

const BIN = path.resolve(import.meta.dirname, "../../packages/cli/bin/ebb.js");
const execFileAsync = promisify(execFile);

let lab: Lab | undefined;
let ebb: RunningEbb | undefined;

beforeAll(async () => {
  lab = await givenLab(13, { vms: 2 });
  ebb = await givenEbb(lab, 13);
  await storeRunbook(ebb, "l4-drain-gated", gatedDrainSource());
});

afterAll(async () => {
  await ebb?.cleanup();
  await lab?.cleanup();
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function ebbCli(
  args: string[],
  env: Record<string, string> = {},
): { done: Promise<Run>; stdout: () => string } {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH ?? "", EBB_URL: ebb!.apiUrl, EBB_TOKEN: TEST_ADMIN_TOKEN, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const done = new Promise<Run>((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
  return { done, stdout: () => stdout };
}

describe("the packed CLI, on its own", () => {
  it("installs from its npm pack tarball into an empty folder and rolls the lab through npx", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "ebb-cli-pack-"));
    try {
      await execFileAsync("npm", ["pack", "--silent", "--pack-destination", dir], {
        cwd: path.dirname(path.dirname(BIN)),
      });
      const tarball = (await readdir(dir)).find((f) => f.endsWith(".tgz"));
      expect(tarball).toBeDefined();
      const job = path.join(dir, "job");
      await mkdir(job);
      // Offline: the CLI has no dependency to fetch, so nothing but the tarball is needed.
      await execFileAsync(
        "npm",
        ["install", "--offline", "--no-audit", "--no-fund", path.join(dir, tarball!)],
        {
          cwd: job,
        },
      );
      expect(await readdir(path.join(job, "node_modules/@ebb"))).toEqual(["cli"]);
      const env = {
        PATH: process.env.PATH ?? "",
        HOME: dir,
        EBB_URL: ebb!.apiUrl,
        EBB_TOKEN: TEST_ADMIN_TOKEN,
      };

      const version = await execFileAsync("npx", ["--no-install", "ebb", "--version"], { cwd: job, env });
      expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
      const rollout = await execFileAsync(
        "npx",
        ["--no-install", "ebb", "rollout", "start", "--fleet", "lab", "--version", "1.9.0", "--wait"],
        { cwd: job, env },
      );
      expect(rollout.stdout).toMatch(/rollout \S+ succeeded in/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
describe("listings, preview and help", () => {
  it("lists fleets and runbooks, previews a rollout without creating it", async () => {
    const fleets = await ebbCli(["fleets"]).done;
    expect(fleets.code, fleets.stderr).toBe(0);
    expect(fleets.stdout).toMatch(/^lab +l4 +2 target\(s\)/m);
    const runbooks = await ebbCli(["runbooks", "--json"]).done;
    expect(runbooks.code, runbooks.stderr).toBe(0);
    expect((JSON.parse(runbooks.stdout) as { name: string }[]).map((r) => r.name)).toContain("l4-drain");

    const before = await ebb!.prisma.rollout.count();
    const preview = await ebbCli(["rollout", "preview", "--fleet", "lab", "--version", "9.0.0"]).done;
    expect(preview.code, preview.stderr + preview.stdout).toBe(0);
    expect(preview.stdout).toMatch(/fleet lab, runbook l4-drain: \d target\(s\)/);
    expect(preview.stdout).toMatch(/batch 1: vm/);
    expect(await ebb!.prisma.rollout.count()).toBe(before);
  });

  it("--help of each command exits 0 without calling the API", async () => {
    // An address where nothing listens: a command that called the API would exit 4.
    const env = { EBB_URL: `http://127.0.0.13:${await freePort("127.0.0.13")}` };
    for (const args of [
      ["rollout", "start"],
      ["rollout", "watch"],
      ["rollout"],
      ["fleets"],
      ["audit", "verify"],
    ]) {
      const run = await ebbCli([...args, "--help"], env).done;
      expect(run.code, `${args.join(" ")}: ${run.stderr}`).toBe(0);
      expect(run.stdout).toContain(`ebb ${args.join(" ")}`);
      expect(run.stdout).toMatch(/4 the API cannot be reached, 5 not authorised/);
    }
  });
});

describe("ebb rollout start --wait", () => {
  it("exits 0 when the rollout succeeds, printing its steps as they happen", async () => {
    const run = await ebbCli(["rollout", "start", "--fleet", "lab", "--version", "2.0.0", "--wait"]).done;
    expect(run.code, run.stderr + run.stdout).toBe(0);
    expect(run.stdout).toMatch(/vm1 +await-unbound +succeeded/);
    expect(run.stdout).toMatch(/rollout \S+ succeeded in/);
    // the drain proof the worker recorded, in one line
    expect(run.stdout).toMatch(/^0 client errors seen by the balancer across 2 drains$/m);
  });

  it("exits 1 when the rollout fails, naming the target and its error", async () => {
    await setFaults(lab!, "vm2", { failDeploy: true });
    try {
      const run = await ebbCli([
        "rollout",
        "start",
        "--fleet",
        "lab",
        "--version",
        "3.0.0",
        "--wait",
        "--json",
      ]).done;
      expect(run.code, run.stderr + run.stdout).toBe(1);
      // NDJSON: one object per line, as things happen; the last carries the final rollout.
      const events = run.stdout
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as { event: string; rollout?: unknown });
      expect(events[0]!.event).toBe("created");
      expect(events.some((e) => e.event === "notice")).toBe(true);
      expect(events.at(-1)!.event).toBe("finished");
      const final = events.at(-1)!.rollout as { id: string; status: string; failure: { target: string } };
      expect(final.status).toBe("failed");
      expect(final.failure.target).toBe("vm2");
      // Leave the lab as found: the failed rollout still holds vm2; abort it (vm2 stays out, as designed).
      expect((await command(ebb!, final.id, "abort")).status).toBe(200);
      expect((await untilTerminal(ebb!, final.id)).status).toBe("aborted");
    } finally {
      await setFaults(lab!, "vm2", {});
    }
  });

  it("exits 3 when the rollout is aborted while it waits", async () => {
    // vm1 alone: vm2 was left out of service by the failed deploy above, as a failed deploy must be.
    const vm1 = lab!.vms[0]!;
    const solo = await api(ebb!, "POST", "/fleets", {
      name: "solo",
      balancer: "l4",
      balancerConfig: { adminUrl: lab!.device.adminUrl },
      targets: [
        {
          name: vm1.name,
          host: vm1.host,
          port: vm1.port,
          executorConfig: (await ebb!.prisma.target.findFirstOrThrow({ where: { name: vm1.name } }))
            .executorConfig,
        },
      ],
    });
    expect(solo.status, JSON.stringify(solo.body)).toBe(201);
    const cli = ebbCli([
      "rollout",
      "start",
      "--fleet",
      "solo",
      "--version",
      "4.0.0",
      "--runbook",
      "l4-drain-gated",
      "--wait",
    ]);
    const id = await waitFor(() => /rollout ([0-9a-f-]{36}):/.exec(cli.stdout())?.[1], {
      what: "the rollout id",
    });
    await untilRollout(ebb!, id, (v) => v.targets.some((t) => t.status === "awaitingApproval"), "the gate");
    // Re-attached by another job, which gives up waiting at its --timeout: exit 6, the rollout goes on.
    const watch = await ebbCli(["rollout", "watch", id, "--timeout", "1s"]).done;
    expect(watch.code, watch.stderr + watch.stdout).toBe(6);
    expect(watch.stdout).toMatch(/still running after --timeout/);
    expect((await command(ebb!, id, "abort")).status).toBe(200);
    const run = await cli.done;
    expect(run.code, run.stderr + run.stdout).toBe(3);
    expect(run.stdout).toMatch(/aborted/);
  });
});

describe("usage and credentials", () => {
  it("exits 2 on bad usage, naming the flag, 4 when the API cannot be reached, 5 when it refuses the token", async () => {
    const missing = await ebbCli(["rollout", "start", "--fleet", "lab"]).done;
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--version is required/);
    const unknown = await ebbCli(["rollout", "launch"]).done;
    expect(unknown.code).toBe(2);
    const badUrl = await ebbCli(["rollout", "list"], { EBB_URL: "not a url" }).done;
    expect(badUrl.code).toBe(2);
    expect(badUrl.stderr).toMatch(/EBB_URL/);
    const refused = await ebbCli(["rollout", "list"], { EBB_TOKEN: "ebb_wrong_token-value" }).done;
    expect(refused.code).toBe(5);
    expect(refused.stderr).toMatch(/401/);
    const closed = `http://127.0.0.13:${await freePort("127.0.0.13")}`;
    const unreachable = await ebbCli(["rollout", "list"], { EBB_URL: closed }).done;
    expect(unreachable.code).toBe(4);
    expect(unreachable.stderr).toMatch(/cannot reach the Ebb API/);
  });

  it("token create prints the value once; audit lists what was done with it", async () => {
    const created = await ebbCli(["token", "create", "--name", "ci-job", "--scope", "read"]).done;
    expect(created.code, created.stderr).toBe(0);
    const token = created.stdout.trim();
    expect(token).toMatch(/^ebb_/);
    const me = await api<{ principal: { name: string; scope: string } }>(
      ebb!,
      "GET",
      "/auth/me",
      undefined,
      token,
    );
    expect(me.body.principal).toMatchObject({ name: "ci-job", scope: "read" });
    // A read token cannot start a rollout: the API refuses, the CLI exits 5 (not authorised).
    const denied = await ebbCli(["rollout", "start", "--fleet", "lab", "--version", "5.0.0"], {
      EBB_TOKEN: token,
    }).done;
    expect(denied.code).toBe(5);
    expect(denied.stderr).toMatch(/403/);
    const audit = await ebbCli(["audit", "--since", "1h", "--json"]).done;
    expect(audit.code, audit.stderr).toBe(0);
    const actions = (JSON.parse(audit.stdout) as { items: { action: string; outcome: string }[] }).items;
    expect(actions.some((a) => a.action === "token.create" && a.outcome === "succeeded")).toBe(true);
    expect(actions.some((a) => a.action === "rollout.create" && a.outcome === "denied")).toBe(true);
    const verify = await ebbCli(["audit", "verify"]).done;
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  });
});

describe("a fleet held by a failed rollout", () => {
  it("start exits 1 with one line: the holder, its status, its targets, and the commands that release them", async () => {
    // Given a fleet of vm1 alone whose rollout failed at vm1's deploy (a real fault: the deploy command fails)
    const vm1 = lab!.vms[0]!;
    const fleet = await api(ebb!, "POST", "/fleets", {
      name: "held",
      balancer: "l4",
      balancerConfig: { adminUrl: lab!.device.adminUrl },
      targets: [
        {
          name: vm1.name,
          host: vm1.host,
          port: vm1.port,
          executorConfig: (await ebb!.prisma.target.findFirstOrThrow({ where: { name: vm1.name } }))
            .executorConfig,
        },
      ],
    });
    expect(fleet.status, JSON.stringify(fleet.body)).toBe(201);
    await setFaults(lab!, "vm1", { failDeploy: true });
    try {
      const first = await ebbCli([
        "rollout",
        "start",
        "--fleet",
        "held",
        "--version",
        "6.0.0",
        "--wait",
        "--json",
      ]).done;
      expect(first.code, first.stderr + first.stdout).toBe(1);
      // --json --wait is NDJSON: the first line is the created rollout.
      const id = (JSON.parse(first.stdout.split("\n")[0]!) as { rollout: { id: string } }).rollout.id;

      // When CI starts another rollout of that fleet
      const run = await ebbCli(["rollout", "start", "--fleet", "held", "--version", "6.0.1"]).done;

      // Then it exits 1 with one line that says who holds the fleet, why, and how to release it
      expect(run.code, run.stderr + run.stdout).toBe(1);
      const lines = run.stderr.trim().split("\n");
      expect(lines, run.stderr).toHaveLength(1);
      expect(lines[0]).toContain(`fleet held is held by rollout ${id} (failed at vm1 deploy:`);
      expect(lines[0]).toMatch(/: vm1 failed, balancer \w+/);
      expect(lines[0]).toContain(
        `release with \`ebb rollout retry ${id} --target vm1\` or \`ebb rollout abort ${id}\``,
      );
      expect(lines[0]).toMatch(/\(409 fleet_held\)$/);

      // And its preview says the same, blocked by the hold, which --force does not get past
      const preview = await ebbCli(["rollout", "preview", "--fleet", "held", "--version", "6.0.1"]).done;
      expect(preview.code, preview.stderr + preview.stdout).toBe(1);
      expect(preview.stdout).toContain(`error: fleet held is held by rollout ${id} (failed at vm1 deploy:`);
      expect(preview.stdout).toContain(
        `release with \`ebb rollout retry ${id} --target vm1\` or \`ebb rollout abort ${id}\``,
      );
      expect(preview.stdout).toContain("blocked: the fleet is held (--force does not override a hold)");
      expect(preview.stdout).not.toContain("--force runs it anyway");

      // And the command it names does release it
      const abort = await ebbCli(["rollout", "abort", id]).done;
      expect(abort.code, abort.stderr).toBe(0);
      expect((await untilTerminal(ebb!, id)).status).toBe("aborted");
    } finally {
      await setFaults(lab!, "vm1", {});
    }
  });
});
