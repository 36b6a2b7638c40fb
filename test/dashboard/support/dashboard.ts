import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, waitFor } from "@ebb/testkit";

/**
 * The dashboard as users get it: `next build`, then `next start` on the test's own loopback address, with
 * EBB_API_URL pointing at the Ebb the test started. The build only runs when .next is missing or older than
 * what goes into it: CI's `npm run build` has made it already, and a rebuild costs 10-30 s.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
export const DASHBOARD_DIR = path.join(ROOT, "apps/dashboard");
const NEXT_BIN = path.join(ROOT, "node_modules/.bin/next");
/**
 * What a build is made of: the dashboard's sources, the @ebb/contracts build it imports types from, and Next
 * itself. Not next-env.d.ts: `next build` rewrites it.
 */
const SOURCES = [
  ...["app", "features", "lib", "public", "next.config.ts", "package.json", "tsconfig.json"].map((s) =>
    path.join(DASHBOARD_DIR, s),
  ),
  path.join(ROOT, "packages/contracts/dist"),
  path.join(ROOT, "node_modules/next/package.json"),
];
const BUILD_TIMEOUT_MS = 10 * 60_000;

function nextBin(): string {
  if (!existsSync(NEXT_BIN)) {
    throw new Error(
      `${NEXT_BIN} is missing: next (and recharts) are not installed. apps/dashboard/package.json must depend on ` +
        "next, react, react-dom and recharts, and `npm ci` must have run.",
    );
  }
  return NEXT_BIN;
}

async function newestMtime(p: string): Promise<number> {
  const s = await stat(p).catch(() => null);
  if (!s) return 0;
  if (!s.isDirectory()) return s.mtimeMs;
  let newest = s.mtimeMs;
  for (const entry of await readdir(p)) newest = Math.max(newest, await newestMtime(path.join(p, entry)));
  return newest;
}

/**
 * `next build` empties .next (but its cache) first and writes prerender-manifest.json after the pages are
 * generated, past the point where a build fails; BUILD_ID comes earlier. So that manifest, newer than every
 * source, means a finished, current build.
 */
export async function dashboardBuildIsCurrent(): Promise<boolean> {
  const built = await stat(path.join(DASHBOARD_DIR, ".next/prerender-manifest.json")).catch(() => null);
  if (!built) return false;
  const sources = await Promise.all(SOURCES.map(newestMtime));
  return built.mtimeMs > Math.max(...sources);
}

function run(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number }) {
  return new Promise<{ code: number | null; output: string; ms: number }>((resolve, reject) => {
    const started = Date.now();
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (b: Buffer) => (output += b.toString()));
    child.stderr.on("data", (b: Buffer) => (output += b.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs);
    child.on("error", reject);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, output, ms: Date.now() - started });
    });
  });
}

/** `next build` unless the build is current; returns how long it took (0 when skipped). */
export async function ensureDashboardBuilt(): Promise<number> {
  const bin = nextBin();
  if (await dashboardBuildIsCurrent()) return 0;
  const { code, output, ms } = await run(bin, ["build"], {
    cwd: DASHBOARD_DIR,
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1" },
    timeoutMs: BUILD_TIMEOUT_MS,
  });
  if (code !== 0) throw new Error(`next build exited with ${code} after ${ms} ms:\n${output.slice(-4_000)}`);
  return ms;
}

export interface RunningDashboard {
  url: string;
  /** What `next start` printed, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

export async function startDashboard(host: string, apiUrl: string): Promise<RunningDashboard> {
  const port = await freePort(host);
  const child: ChildProcess = spawn(nextBin(), ["start", "--hostname", host, "--port", String(port)], {
    cwd: DASHBOARD_DIR,
    env: { ...process.env, EBB_API_URL: apiUrl, NEXT_TELEMETRY_DISABLED: "1", NODE_ENV: "production" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  let exited: number | null | undefined;
  child.stdout?.on("data", (b: Buffer) => (output += b.toString()));
  child.stderr?.on("data", (b: Buffer) => (output += b.toString()));
  child.on("exit", (code) => {
    exited = code;
  });
  const url = `http://${host}:${port}`;
  const stop = async () => {
    if (exited !== undefined) return;
    child.kill("SIGTERM");
    await waitFor(() => exited !== undefined, { timeoutMs: 10_000, what: "next start to exit" }).catch(() => {
      child.kill("SIGKILL");
    });
  };
  try {
    await waitFor(
      async () => {
        if (exited !== undefined) throw new Error(`next start exited with ${exited}:\n${output}`);
        const res = await fetch(`${url}/login`).catch(() => null);
        return res?.status === 200;
      },
      { timeoutMs: 30_000, intervalMs: 100, what: `the dashboard to answer on ${url}` },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, output: () => output, stop };
}
