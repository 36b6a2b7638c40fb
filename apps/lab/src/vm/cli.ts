import { access } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import { setHealthCheck } from "./health.js";
import { VM_NAME_RE, vmDir, vmPaths } from "./layout.js";
import { InvalidVmVersionError } from "./release.js";
import type { VmStatus } from "./status.js";

// Runbooks call `ebb-vm health fail|restore` on every target of every rollout: those commands load only
// what they need. The others import their modules (and zod, ~50 ms) when they run.

export const USAGE = `usage: ebb-vm <command> [--dir <vmDir> | --vm <name> [--lab-dir <labDir>]]

commands:
  start                          start the web server and wait until it answers (idempotent)
  stop [--timeout-ms N] [--kill] SIGTERM (or SIGKILL), wait until the process exited; exit 1 unless clean
  status [--json]                running, pid, version, health check file, listening
  deploy [VERSION]               install releases/VERSION and switch current (no restart); env EBB_VERSION
  health fail|restore            rename docroot/health_check.html <-> health_check.html.disabled

The VM: --dir, else --vm, else env EBB_VM_DIR, else env EBB_TARGET_NAME; a name is looked up in --lab-dir /
env EBB_LAB_DIR (default ./.lab).
Exit codes: 0 ok, 1 failed, 2 bad usage.`;

/** Bad usage: exit code 2, and the message names the argument. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export interface CtlIo {
  out(text: string): void;
  err(text: string): void;
}

const stdio: CtlIo = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
};

const OPTIONS = {
  dir: { type: "string" },
  vm: { type: "string" },
  "lab-dir": { type: "string" },
  "timeout-ms": { type: "string" },
  kill: { type: "boolean" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;
type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>["values"];

// Which command takes which option and how many positionals, so a misplaced one is refused, not ignored.
const COMMANDS: Record<string, { options: (keyof typeof OPTIONS)[]; args: [number, number] }> = {
  start: { options: [], args: [0, 0] },
  stop: { options: ["timeout-ms", "kill"], args: [0, 0] },
  status: { options: ["json"], args: [0, 0] },
  deploy: { options: [], args: [0, 1] },
  health: { options: [], args: [1, 1] },
};
const LOCATORS = ["dir", "vm", "lab-dir", "help"] as const;

async function resolveVmDir(values: Values, env: NodeJS.ProcessEnv): Promise<string> {
  let dir: string;
  let source: string;
  if (values.dir) {
    [dir, source] = [path.resolve(values.dir), `--dir ${values.dir}`];
  } else if (!values.vm && env.EBB_VM_DIR) {
    [dir, source] = [path.resolve(env.EBB_VM_DIR), `EBB_VM_DIR=${env.EBB_VM_DIR}`];
  } else {
    // Ebb sets EBB_TARGET_NAME for every exec step, so a runbook can say just `ebb-vm stop`, as a
    // production runbook says `systemctl stop nginx`; the lab directory comes from the host's environment.
    const name = values.vm ?? env.EBB_TARGET_NAME;
    const from = values.vm ? "--vm " : "EBB_TARGET_NAME=";
    if (name === undefined || name === "") {
      throw new UsageError("which VM? give --dir <vmDir>, --vm <name>, or env EBB_VM_DIR or EBB_TARGET_NAME");
    }
    if (!VM_NAME_RE.test(name)) throw new UsageError(`${from}${JSON.stringify(name)}: not a VM name`);
    const labDir = values["lab-dir"] ?? env.EBB_LAB_DIR ?? path.join(process.cwd(), ".lab");
    [dir, source] = [vmDir(labDir, name), `${from}${name}`];
  }
  try {
    await access(vmPaths(dir).config);
  } catch {
    throw new UsageError(`${source}: no VM at ${dir} (vm.json not found)`);
  }
  return dir;
}

function parseTimeout(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n <= 0)
    throw new UsageError(`--timeout-ms ${JSON.stringify(raw)}: expected a positive integer`);
  return n;
}

function formatStatus(s: VmStatus): string {
  const serving =
    s.runningVersion && s.runningVersion !== s.version ? ` (serving ${s.runningVersion} until restart)` : "";
  const lines = [
    `${s.name} (${s.address}): ${s.running ? `running, pid ${s.pid}` : "stopped"}`,
    `  version: ${s.version ?? "none"}${serving}`,
    `  health check file: ${s.healthCheckPresent ? "present" : "absent"}`,
    `  listening: ${s.listening ? "yes" : "no"}`,
  ];
  return `${lines.join("\n")}\n`;
}

async function run(argv: string[], env: NodeJS.ProcessEnv, io: CtlIo): Promise<number> {
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.out(`${USAGE}\n`);
    return 0;
  }
  const [command, ...args] = positionals;
  if (!command) throw new UsageError("missing <command>");
  const spec = COMMANDS[command];
  if (!spec) throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  for (const name of Object.keys(values) as (keyof typeof OPTIONS)[]) {
    if (!spec.options.includes(name) && !(LOCATORS as readonly string[]).includes(name)) {
      throw new UsageError(`--${name} does not apply to ${command}`);
    }
  }
  if (args.length < spec.args[0] || args.length > spec.args[1]) {
    throw new UsageError(`${command}: unexpected arguments ${JSON.stringify(args)}`);
  }
  const timeoutMs = parseTimeout(values["timeout-ms"]);
  const dir = await resolveVmDir(values, env);

  switch (command) {
    case "start": {
      const { startVm } = await import("./lifecycle.js");
      const r = await startVm(dir);
      const name = path.basename(dir);
      io.out(
        r.alreadyRunning
          ? `${name} already running (pid ${r.pid}, version ${r.version})\n`
          : `started ${name} ${r.version} pid ${r.pid}\n`,
      );
      return 0;
    }
    case "stop": {
      const { stopVm } = await import("./lifecycle.js");
      const r = await stopVm(dir, {
        ...(timeoutMs ? { timeoutMs } : {}),
        signal: values.kill ? "SIGKILL" : "SIGTERM",
      });
      const name = path.basename(dir);
      if (r.outcome === "not-running") {
        io.out(`${name} is not running\n`);
        return 0;
      }
      if (r.outcome === "timeout") {
        io.err(`ebb-vm: stop of ${name} failed: ${r.reason}\n`);
        return 1;
      }
      if (values.kill) {
        const lost = r.droppedJobs.length ? `; background jobs lost: ${r.droppedJobs.join(", ")}` : "";
        io.out(`killed ${name} (pid ${r.pid}) with SIGKILL${lost}\n`);
        return 0;
      }
      if (r.clean) {
        io.out(`stopped ${name} (pid ${r.pid}): clean\n`);
        return 0;
      }
      io.err(
        `ebb-vm: stop of ${name} was not clean (${r.reason}): dropped ${r.droppedRequests} in-flight request(s) ` +
          `and ${r.droppedJobs.length} background job(s)${r.droppedJobs.length ? `: ${r.droppedJobs.join(", ")}` : ""}\n`,
      );
      return 1;
    }
    case "status": {
      const { vmStatus } = await import("./status.js");
      const s = await vmStatus(dir);
      if (values.json) {
        io.out(`${JSON.stringify(s, null, 2)}\n`);
      } else {
        io.out(formatStatus(s));
      }
      return 0;
    }
    case "deploy": {
      // Runbook steps pass parameters as environment variables, never spliced into the command line.
      const version = args[0] ?? env.EBB_VERSION;
      if (!version) throw new UsageError("deploy: give <VERSION> or env EBB_VERSION");
      const { deployVm } = await import("./deploy.js");
      await deployVm(dir, version);
      io.out(
        `deployed ${path.basename(dir)} ${version} (current -> releases/${version}); restart to serve it\n`,
      );
      return 0;
    }
    case "health": {
      const action = args[0];
      if (action !== "fail" && action !== "restore") {
        throw new UsageError(`health: expected "fail" or "restore", got ${JSON.stringify(action)}`);
      }
      await setHealthCheck(dir, action === "restore");
      io.out(
        `${path.basename(dir)} health check ${action === "fail" ? "failing (health_check.html.disabled)" : "restored (health_check.html)"}\n`,
      );
      return 0;
    }
  }
  throw new UsageError(`unknown command ${JSON.stringify(command)}`);
}

/** Runs one `ebb-vm` invocation; returns the exit code (0 ok, 1 failed, 2 bad usage). */
export async function runCtl(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  io: CtlIo = stdio,
): Promise<number> {
  try {
    return await run(argv, env, io);
  } catch (err) {
    if (err instanceof UsageError || err instanceof InvalidVmVersionError) {
      io.err(`ebb-vm: ${err.message}\n${err instanceof UsageError ? "run ebb-vm --help for usage\n" : ""}`);
      return 2;
    }
    io.err(`ebb-vm: ${(err as Error).message}\n`);
    return 1;
  }
}
