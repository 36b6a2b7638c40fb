import { once } from "node:events";
import { readdirSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { QUEUES } from "@ebb/contracts";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rolloutSpanId } from "../../apps/api/src/tracing/tracing.js";
import { givenEbb, type RunningEbb } from "../support/ebb.js";
import { type Lab, request, untilTerminal } from "../support/rollouts.js";
import { givenLab } from "../support/world.js";

// Traces (issue 15 §1): with OTEL_EXPORTER_OTLP_ENDPOINT set, a rollout created by a request that carries a
// W3C traceparent gives one trace: the request's span, the rollout's span under it, a span per step under
// that; the request id rides in the jobs' data. Received by a tiny OTLP/HTTP (JSON) collector on loopback.

const NET = 84;
const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN = "00f067aa0ba902b7";
const REQUEST_ID = "trace-test-request-1";

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes?: { key: string; value: { stringValue?: string; intValue?: number | string } }[];
}

let lab: Lab | undefined;
let ebb: RunningEbb | undefined;
let collector: Server | undefined;
const posts: { path: string; body: string }[] = [];

beforeAll(async () => {
  collector = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => {
      body += String(d);
    });
    req.on("end", () => {
      posts.push({ path: req.url ?? "", body });
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  collector.listen(0, `127.0.${NET}.2`);
  await once(collector, "listening");
  const endpoint = `http://127.0.${NET}.2:${(collector.address() as AddressInfo).port}`;
  lab = await givenLab(NET, { vms: 1 });
  ebb = await givenEbb(lab, NET, { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint });
});

afterAll(async () => {
  await ebb?.cleanup();
  await lab?.cleanup();
  collector?.close();
});

function spans(): OtlpSpan[] {
  return posts
    .filter((p) => p.path === "/v1/traces")
    .flatMap((p) => {
      const doc = JSON.parse(p.body) as {
        resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[];
      };
      return doc.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));
    });
}

const attr = (s: OtlpSpan, key: string) => s.attributes?.find((a) => a.key === key)?.value.stringValue;

describe("traces", () => {
  it("a request span, the rollout's span under it and a span per step under that, in the caller's trace", async () => {
    const e = ebb!;
    // When CI creates a rollout inside its own trace
    const created = await request<{ id: string }>(e, "POST", "/rollouts", {
      body: { fleet: "lab", version: "2.0.0", runbook: "l4-drain" },
      headers: { traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-01`, "x-request-id": REQUEST_ID },
    });
    expect(created.status).toBe(201);
    const id = created.body.id;
    expect((await untilTerminal(e, id, 60_000)).status).toBe("succeeded");

    // Then the jobs carried the request id (and the trace) in their data, as BullMQ keeps it in Redis
    const redis = new Redis(e.app.redisUrl, { maxRetriesPerRequest: null });
    const prefix = `bull:${QUEUES.rollout}:`;
    // The job hashes only, not their `:lock` / `:logs` companions.
    const keys = (await redis.keys(`${prefix}step.run~*`)).filter(
      (k) => !k.slice(prefix.length).includes(":"),
    );
    const steps = await Promise.all(
      keys.map(async (key) => ({
        data: JSON.parse((await redis.hget(key, "data")) ?? "{}") as {
          meta?: { requestId?: string; trace?: { traceId: string; parentSpanId: string } };
        },
      })),
    );
    redis.disconnect();
    expect(steps.length).toBeGreaterThan(0);
    for (const job of steps)
      expect(job.data.meta).toEqual({
        requestId: REQUEST_ID,
        trace: { traceId: TRACE_ID, parentSpanId: expect.stringMatching(/^[0-9a-f]{16}$/) },
      });

    // And, once Ebb stops (which exports what is buffered), the spans arrived as one trace
    await e.cleanup();
    ebb = undefined;
    const all = spans().filter((s) => s.traceId === TRACE_ID);
    const http = all.find((s) => s.name === "POST /api/v1/rollouts");
    expect(http, JSON.stringify(all.map((s) => s.name))).toBeDefined();
    expect(http!.parentSpanId).toBe(CALLER_SPAN);
    expect(attr(http!, "ebb.request_id")).toBe(REQUEST_ID);
    expect(steps[0]!.data.meta?.trace?.parentSpanId).toBe(http!.spanId);

    const rollout = all.find((s) => s.name === "rollout");
    expect(rollout?.spanId).toBe(rolloutSpanId(id));
    expect(rollout?.parentSpanId).toBe(http!.spanId);
    expect(attr(rollout!, "ebb.rollout.status")).toBe("succeeded");

    const stepSpans = all.filter((s) => s.name.startsWith("step "));
    // l4-drain has nine steps; one VM.
    expect(stepSpans.map((s) => attr(s, "ebb.step.id"))).toHaveLength(9);
    for (const s of stepSpans) expect(s.parentSpanId).toBe(rollout!.spanId);
    expect(stepSpans.map((s) => s.name)).toContain("step balancer.awaitUnbound");
  });

  it("without OTEL_EXPORTER_OTLP_ENDPOINT nothing of OpenTelemetry is imported: only tracing/ does, lazily", () => {
    const src = path.resolve(import.meta.dirname, "../../apps/api/src");
    const importers: string[] = [];
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const file = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(file);
        else if (/\.ts$/.test(entry.name) && !/\.test\.ts$/.test(entry.name)) {
          const text = readFileSync(file, "utf8");
          if (/from "@opentelemetry\//.test(text)) importers.push(path.relative(src, file));
          if (/from "\.\.?\/(\.\.\/)*tracing\/tracing\.js"/.test(text))
            importers.push(`${path.relative(src, file)} (static import of tracing)`);
        }
      }
    };
    walk(src);
    expect(importers).toEqual(["tracing/tracing.ts"]);
    const bootstrap = readFileSync(path.join(src, "app/bootstrap.ts"), "utf8");
    expect(bootstrap).toMatch(
      /config\.tracing === undefined\s*\? undefined\s*: \(await import\("\.\.\/tracing\/tracing\.js"\)\)/,
    );
  });
});
