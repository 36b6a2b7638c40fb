import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort, waitFor } from "@ebb/testkit";

export const PROMETHEUS_BIN = "/usr/bin/prometheus";

export interface RunningPrometheus {
  url: string;
  /** One instant query's result vector. */
  query(promql: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  stop(): Promise<void>;
}

/**
 * Debian's Prometheus (`.ci/run` installs the package), scraping `targets` every 200 ms (the lab's timings
 * are scaled down, so are its scrapes), on a free port of `host`, with its own storage in a temp dir.
 */
export async function givenPrometheus(host: string, targets: string[]): Promise<RunningPrometheus> {
  if (!existsSync(PROMETHEUS_BIN))
    throw new Error(`${PROMETHEUS_BIN} is missing: apt-get install -y prometheus (.ci/run does)`);
  const dir = await mkdtemp(path.join(tmpdir(), "ebb-prometheus-"));
  const config = path.join(dir, "prometheus.yml");
  await writeFile(
    config,
    [
      "global:",
      "  scrape_interval: 200ms",
      "  scrape_timeout: 150ms",
      "scrape_configs:",
      "  - job_name: lab",
      "    static_configs:",
      `      - targets: ${JSON.stringify(targets)}`,
      "",
    ].join("\n"),
  );
  const port = await freePort(host);
  const url = `http://${host}:${port}`;
  const child: ChildProcess = spawn(
    PROMETHEUS_BIN,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${path.join(dir, "data")}`,
      `--web.listen-address=${host}:${port}`,
      "--log.level=warn",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4_000);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const query: RunningPrometheus["query"] = async (promql) => {
    const res = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: promql })}`);
    const body = (await res.json()) as {
      data: { result: { metric: Record<string, string>; value: [number, string] }[] };
    };
    return body.data.result;
  };
  const stop = async () => {
    if (child.exitCode === null) child.kill("SIGTERM");
    await exited;
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`prometheus exited ${child.exitCode}: ${stderr}`);
        return (await fetch(`${url}/-/ready`).catch(() => null))?.ok === true;
      },
      { timeoutMs: 15_000, intervalMs: 100, what: "Prometheus ready" },
    );
    // Every lab VM scraped at least once: an analysis must not start on a Prometheus that has seen nothing.
    await waitFor(async () => (await query("up == 1")).length === targets.length, {
      timeoutMs: 10_000,
      intervalMs: 100,
      what: `Prometheus scraping ${targets.length} targets`,
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, query, stop };
}
