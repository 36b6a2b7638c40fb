import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";

const dashboardDir = path.resolve(import.meta.dirname, "../../dashboard");

export interface RunningDashboard {
  url: string;
  stop(): Promise<void>;
}

/**
 * `next start` of the built dashboard, pointed at the API. Undefined when it was never built (`npm run
 * build` builds it): the lab still runs, and the banner says how to get the dashboard.
 */
export async function startDashboard(opts: {
  host: string;
  port: number;
  apiOrigin: string;
  log: (line: string) => void;
}): Promise<RunningDashboard | undefined> {
  const next = path.resolve(dashboardDir, "../../node_modules/next/dist/bin/next");
  if (!existsSync(path.join(dashboardDir, ".next", "BUILD_ID")) || !existsSync(next)) return undefined;
  const child: ChildProcess = spawn(
    process.execPath,
    [next, "start", "--hostname", opts.host, "--port", String(opts.port)],
    {
      cwd: dashboardDir,
      env: { ...process.env, EBB_API_URL: opts.apiOrigin, NEXT_TELEMETRY_DISABLED: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let output = "";
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
    for (const line of chunk.toString().split("\n")) if (line.trim()) opts.log(line);
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  const url = `http://${opts.host}:${opts.port}`;
  // Up when its login page answers: `next start` prints "Ready" before every route is served.
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`the dashboard exited (${child.exitCode}): ${output.slice(-500)}`);
    const res = await fetch(`${url}/login`).catch(() => undefined);
    if (res?.ok) break;
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`the dashboard did not answer on ${url} within 60 s: ${output.slice(-500)}`);
    }
    await delay(200);
  }
  return {
    url,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    },
  };
}
