import { once } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { Harness } from "../test-support/memory.js";
import { parseHttpCounters, queryValue } from "./steps/analysis.js";

// The analysis step on the in-memory ports, against scripted sources: a target whose /metrics the test
// writes, a Prometheus that answers what the test says. The decisions themselves: core/analysis.test.ts.
const ID = "00000000-0000-4000-8000-000000000003";
const done = (h: Harness) => () => ["succeeded", "failed", "aborted"].includes(h.state(ID).status);
const runbook = (steps: string) => `apiVersion: ebb/v1
kind: Runbook
name: t
balancer: l4
steps:
${steps}`;

let server: Server | undefined;
afterEach(() => {
  server?.close();
  server = undefined;
});

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<number> {
  server = createServer(handler);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return (server.address() as AddressInfo).port;
}

/** Points every target of the harness at the scripted server. */
function targetsAt(h: Harness, port: number): void {
  const records = h.store.targetRecords.get("f1")!;
  h.store.targetRecords.set(
    "f1",
    records.map((r) => ({ ...r, host: "127.0.0.1", port })),
  );
}

/** A target whose counters grow by `perScrape` requests, `errorsPerScrape` of them 500s, at each scrape. */
function scriptedMetrics(perScrape: number, errorsPerScrape: number) {
  let scrapes = 0;
  return (req: IncomingMessage, res: ServerResponse) => {
    if (req.url !== "/metrics") return res.writeHead(404).end();
    const n = scrapes++;
    const ok = n * (perScrape - errorsPerScrape);
    const bad = n * errorsPerScrape;
    res.end(
      [
        "# TYPE http_requests_total counter",
        `http_requests_total{code="200"} ${ok}`,
        ...(bad > 0 ? [`http_requests_total{code="500"} ${bad}`] : []),
        "",
      ].join("\n"),
    );
  };
}

const COUNTERS =
  "  - { id: analysis, type: analysis, window: 5s, interval: 1s, maxErrorRatio: 0.05, minRequests: 10 }\n";

describe("analysis step (counters): the target's own /metrics", () => {
  it("passes a clean target after the whole window", async () => {
    const port = await serve(scriptedMetrics(20, 0));
    const h = new Harness(["vm1"]);
    targetsAt(h, port);
    h.addRollout(ID, runbook(COUNTERS));
    await h.engine.send(ID, { type: "start" });
    const started = h.clock.now();
    await h.queue.runUntilIdle({ until: done(h) });
    expect(h.state(ID).status).toBe("succeeded");
    expect(h.clock.now() - started).toBeGreaterThanOrEqual(5_000);
    expect(h.state(ID).targets.vm1!.steps[0]!.observation).toMatchObject({ errors: 0, errorRatio: 0 });
  });

  it("fails the target as soon as its 5xx share crosses the threshold; the next batch never starts", async () => {
    const port = await serve(scriptedMetrics(20, 6));
    const h = new Harness(["vm1", "vm2"]);
    targetsAt(h, port);
    h.addRollout(ID, runbook(COUNTERS));
    await h.engine.send(ID, { type: "start" });
    const started = h.clock.now();
    await h.queue.runUntilIdle({ until: done(h) });
    const state = h.state(ID);
    expect(state.status).toBe("failed");
    expect(state.targets.vm1!.error).toEqual({
      code: "analysis_failed",
      message: "analysis on vm1: 5xx ratio 30% (6 of 20 requests) above maxErrorRatio 5% after 1 s",
    });
    expect(h.clock.now() - started).toBeLessThan(5_000);
    expect(state.targets.vm2!.status).toBe("pending");
  });

  it("fails when the target's metrics cannot be read for the whole window", async () => {
    const port = await serve((_req, res) => res.writeHead(503).end());
    const h = new Harness(["vm1"]);
    targetsAt(h, port);
    h.addRollout(ID, runbook(COUNTERS));
    await h.engine.send(ID, { type: "start" });
    await h.queue.runUntilIdle({ until: done(h) });
    expect(h.state(ID).targets.vm1!.error?.message).toMatch(
      /^analysis on vm1: cannot read the counters source: http:\/\/127\.0\.0\.1:\d+\/metrics: HTTP 503$/,
    );
  });
});

describe("analysis step (prometheus): a PromQL query against the fleet's Prometheus", () => {
  const PROMQL = `  - id: analysis
    type: analysis
    source: prometheus
    window: 3s
    interval: 1s
    query: 'errors{instance="\${target.host}:\${target.port}",version="\${params.version}"}'
    threshold: 0.05
`;

  function fakePrometheus(value: () => string | null, queries: string[]) {
    return (req: IncomingMessage, res: ServerResponse) => {
      let body = "";
      req.on("data", (c: Buffer) => {
        body += c.toString();
      });
      req.on("end", () => {
        queries.push(new URLSearchParams(body).get("query") ?? "");
        const v = value();
        res.setHeader("content-type", "application/json");
        res.end(
          JSON.stringify({
            status: "success",
            data: { resultType: "vector", result: v === null ? [] : [{ metric: {}, value: [0, v] }] },
          }),
        );
      });
    };
  }

  it("renders the query for the target and version, and fails on a value above the threshold", async () => {
    const queries: string[] = [];
    // No series yet, then under the threshold, then above it.
    const values: (string | null)[] = [null, "0.01", "0.3"];
    const port = await serve(
      fakePrometheus(() => values[Math.min(queries.length, values.length) - 1]!, queries),
    );
    const h = new Harness(["vm1"]);
    h.store.fleets.get("f1")!.balancerConfig = { prometheusUrl: `http://127.0.0.1:${port}/` };
    h.addRollout(ID, runbook(PROMQL));
    await h.engine.send(ID, { type: "start" });
    await h.queue.runUntilIdle({ until: done(h) });
    expect(queries[0]).toBe('errors{instance="127.0.0.11:8080",version="2.0.0"}');
    expect(h.state(ID).targets.vm1!.error).toEqual({
      code: "analysis_failed",
      message: "analysis on vm1: query value 0.3 above threshold 0.05 after 2 s",
    });
  });

  it("passes a window of values under the threshold", async () => {
    const port = await serve(fakePrometheus(() => "0.01", []));
    const h = new Harness(["vm1"]);
    h.store.fleets.get("f1")!.balancerConfig = { prometheusUrl: `http://127.0.0.1:${port}` };
    h.addRollout(ID, runbook(PROMQL));
    await h.engine.send(ID, { type: "start" });
    await h.queue.runUntilIdle({ until: done(h) });
    expect(h.state(ID).status).toBe("succeeded");
  });

  it("fails at once, naming the field, on a fleet that names no Prometheus", async () => {
    const h = new Harness(["vm1"]);
    h.addRollout(ID, runbook(PROMQL));
    await h.engine.send(ID, { type: "start" });
    await h.queue.runUntilIdle({ until: done(h) });
    expect(h.state(ID).targets.vm1!.error?.message).toContain(
      "fleet fleet names no Prometheus (balancerConfig.prometheusUrl)",
    );
  });
});

describe("reading the sources", () => {
  it("sums http_requests_total over its series and reads the latency histogram by le", () => {
    const text = [
      "# HELP http_requests_total x",
      'http_requests_total{host="vm1",code="200"} 90',
      'http_requests_total{host="vm1",code="503"} 7',
      'http_requests_total{host="vm1",code="500"} 3',
      'http_requests_total{host="vm1",code="404"} 5',
      'http_request_duration_seconds_bucket{host="vm1",le="0.1"} 80',
      'http_request_duration_seconds_bucket{host="vm1",le="0.5"} 100',
      'http_request_duration_seconds_bucket{host="vm1",le="+Inf"} 105',
      'http_request_duration_seconds_count{host="vm1"} 105',
      "other_metric 12",
    ].join("\n");
    expect(parseHttpCounters(text)).toEqual({
      requests: 105,
      errors: 10,
      latency: { boundsMs: [100, 500], counts: [80, 100], count: 105 },
    });
    expect(() => parseHttpCounters("other 1\n")).toThrow(/no http_requests_total/);
  });

  it("takes the worst series of a vector; no series and NaN are no data", () => {
    const vector = (...vs: string[]) => ({
      resultType: "vector",
      result: vs.map((v) => ({ metric: {}, value: [0, v] })),
    });
    expect(queryValue(vector("0.1", "0.4", "NaN"), "above")).toBe(0.4);
    expect(queryValue(vector("0.1", "0.4"), "below")).toBe(0.1);
    expect(queryValue(vector(), "above")).toBeNull();
    expect(queryValue(vector("NaN"), "above")).toBeNull();
    expect(queryValue({ resultType: "scalar", result: [0, "2"] }, "above")).toBe(2);
    expect(() => queryValue({ resultType: "matrix", result: [] }, "above")).toThrow(/one number/);
  });
});
