import { spawnSync } from "node:child_process";
import { bootstrap, parseConfig, type RunningApp } from "@ebb/api";
import { type CreatedRolloutView, QUEUES, type Readiness, type RolloutDetail } from "@ebb/contracts";
import { waitFor } from "@ebb/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { givenEbb, type RunningEbb, TEST_ADMIN_TOKEN } from "../support/ebb.js";
import { type Lab, request, untilTerminal } from "../support/rollouts.js";
import { givenLab } from "../support/world.js";

// Operating Ebb (issue 15 §1): an API process (EBB_ROLE=api) and a worker-only process (EBB_ROLE=worker,
// its own /metrics port) on one Redis and one database, the lab behind them. Before the worker connects,
// readiness says no worker is there and a new rollout says it waits for one; once it connects the rollout
// runs, and both /metrics pass `promtool check metrics` with the counters of that rollout in them.

const NET = 83;
/** Debian's `prometheus` package; `.ci/run` installs it. */
const PROMTOOL = "/usr/bin/promtool";
const Q = QUEUES.rollout;
let lab: Lab | undefined;
let ebb: RunningEbb | undefined;
let worker: RunningApp | undefined;

beforeAll(async () => {
  lab = await givenLab(NET, { vms: 2 });
  ebb = await givenEbb(lab, NET, { EBB_ROLE: "api" });
});

afterAll(async () => {
  await worker?.close();
  await ebb?.cleanup();
  await lab?.cleanup();
});

/** A worker-only Ebb on the API's Redis and database, its metrics on a port the OS picks. */
async function startWorker(e: RunningEbb): Promise<RunningApp> {
  const config = parseConfig({
    EBB_ROLE: "worker",
    REDIS_URL: e.app.redisUrl,
    EBB_DATA_DIR: `/tmp/ebb-metrics-worker-${process.pid}`,
    EBB_METRICS_HOST: `127.0.${NET}.1`,
    EBB_METRICS_PORT: "0",
    EBB_RECONCILE_INTERVAL_MS: "500",
    EBB_LOG_LEVEL: "warn",
  });
  return bootstrap(config, {
    database: { prisma: e.prisma, kind: "pglite", close: async () => {} },
    modules: (await import("@ebb/api")).featureModules(config, process.env),
    logger: false,
  });
}

async function scrape(url: string): Promise<string> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("text/plain");
  return res.text();
}

/** `promtool check metrics` on the exposition text: exit 0 and nothing to say. */
function promtool(text: string): { code: number | null; output: string } {
  const run = spawnSync(PROMTOOL, ["check", "metrics"], { input: text, encoding: "utf8" });
  return { code: run.status, output: `${run.stdout}${run.stderr}`.trim() };
}

/** The value of one sample (`name{labels} value`), or undefined when the line is not there. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("metrics, readiness and a rollout waiting for a worker", () => {
  it("says no worker is connected, then runs the rollout once one is, and both /metrics pass promtool", async () => {
    const e = ebb!;
    // Given an API with no worker connected
    const before = await request<Readiness>(e, "GET", "/health/ready");
    expect(before.status).toBe(200);
    expect(before.body.workers).toEqual({ connected: 0 });
    const apiMetrics = e.app.metricsUrl!;
    expect(apiMetrics).toBe(`http://127.0.${NET}.1:${new URL(e.apiUrl).port}/metrics`);

    // When a rollout is created
    const created = await request<CreatedRolloutView>(e, "POST", "/rollouts", {
      body: { fleet: "lab", version: "2.0.0", runbook: "l4-drain" },
    });
    expect(created.status).toBe(201);
    const id = created.body.id;

    // Then the answer and the rollout view say it waits for a worker, and nothing moved
    expect(created.body.waitingForWorker).toBe(true);
    const waiting = await request<RolloutDetail>(e, "GET", `/rollouts/${id}`);
    expect(waiting.body.waitingForWorker).toBe(true);
    expect(waiting.body.targets.flatMap((t) => t.steps).filter((s) => s.status === "succeeded")).toEqual([]);
    const queued = await scrape(apiMetrics);
    expect(sample(queued, `ebb_queue_workers{queue="${Q}"}`)).toBe(0);
    expect(sample(queued, `ebb_queue_jobs{queue="${Q}",state="waiting"}`)).toBeGreaterThan(0);

    // When a worker-only process connects
    worker = await startWorker(e);
    expect(worker.metricsUrl).toMatch(new RegExp(`^http://127\\.0\\.${NET}\\.1:\\d+/metrics$`));
    await waitFor(
      async () => ((await request<Readiness>(e, "GET", "/health/ready")).body.workers?.connected ?? 0) > 0,
      { what: "readiness to report a connected worker" },
    );

    // Then the rollout runs to the end and no longer says it waits
    const done = await untilTerminal(e, id, 60_000);
    expect(done.status).toBe("succeeded");
    expect((await request<RolloutDetail>(e, "GET", `/rollouts/${id}`)).body.waitingForWorker).toBeUndefined();

    // And both /metrics are valid Prometheus exposition text with that rollout in them
    const api = await scrape(apiMetrics);
    const work = await scrape(worker.metricsUrl!);
    expect(promtool(api)).toEqual({ code: 0, output: "" });
    expect(promtool(work)).toEqual({ code: 0, output: "" });
    expect(sample(api, 'ebb_rollouts{status="succeeded"}')).toBe(1);
    expect(sample(api, 'ebb_rollouts{status="running"}')).toBe(0);
    expect(sample(api, 'ebb_targets_out_of_service{fleet="lab"}')).toBe(0);
    expect(sample(api, `ebb_queue_workers{queue="${Q}"}`)).toBeGreaterThan(0);
    // The API committed the start; the worker ran every step and committed the end.
    expect(sample(api, 'ebb_rollout_transitions_total{status="running"}')).toBe(1);
    expect(sample(work, 'ebb_rollout_transitions_total{status="succeeded"}')).toBe(1);
    expect(
      sample(work, 'ebb_step_duration_seconds_count{step_type="balancer.awaitUnbound",outcome="succeeded"}'),
    ).toBe(2);
    expect(
      sample(work, 'ebb_step_duration_seconds_count{step_type="exec",outcome="succeeded"}'),
    ).toBeGreaterThanOrEqual(8);
    expect(sample(work, "process_cpu_seconds_total")).toBeGreaterThan(0);
    // An open event stream counts while it is open
    expect(sample(api, "ebb_event_stream_clients")).toBe(0);
    const stream = new AbortController();
    const events = await fetch(`${e.apiUrl}/rollouts/${id}/events`, {
      headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
      signal: stream.signal,
    });
    expect(events.headers.get("content-type")).toContain("text/event-stream");
    expect(sample(await scrape(apiMetrics), "ebb_event_stream_clients")).toBe(1);
    stream.abort();
    await waitFor(async () => sample(await scrape(apiMetrics), "ebb_event_stream_clients") === 0, {
      what: "the closed stream to stop counting",
    });
    // Only the API serves the fleet-wide gauges (N workers must not run N copies of those queries).
    expect(work).not.toContain("ebb_rollouts{");
  });
});
