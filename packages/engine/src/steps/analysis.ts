import {
  type AnalysisDecision,
  type AnalysisStep,
  countersDecision,
  EbbError,
  type HttpCounters,
  queryDecision,
  renderTemplate,
} from "@ebb/core";
import type { StepContext } from "./context.js";
import { failed, type StepOutcome } from "./outcome.js";

/** A source that does not answer within this long counts as unreadable for this check. */
const READ_TIMEOUT_MS = 2_000;

/**
 * `analysis`: reads the source (the target's /metrics, or a PromQL query), core judges. An unreadable
 * source is retried at the next interval; only when the window is over without a reading does it fail.
 */
export async function runAnalysis(ctx: StepContext, step: AnalysisStep): Promise<StepOutcome> {
  const now = ctx.now();
  let decision: AnalysisDecision;
  try {
    decision =
      step.source === "counters"
        ? countersDecision({ step, previous: ctx.previous, current: await readCounters(ctx, step), now })
        : queryDecision({ step, previous: ctx.previous, value: await readQuery(ctx, step), now });
  } catch (err) {
    if (err instanceof EbbError && err.code === "param_invalid") throw err;
    return unreadable(ctx, step, (err as Error).message, now);
  }
  switch (decision.verdict) {
    case "pass":
      return { kind: "succeeded", observation: decision.observation };
    case "fail":
      return failed(
        "analysis_failed",
        `${step.id} on ${ctx.target.name}: ${decision.message}`,
        decision.observation,
      );
    case "continue":
      return { kind: "waiting", observation: decision.observation, recheckAtMs: decision.recheckAtMs };
  }
}

function unreadable(ctx: StepContext, step: AnalysisStep, problem: string, now: number): StepOutcome {
  const startedAtMs = typeof ctx.previous?.startedAtMs === "number" ? ctx.previous.startedAtMs : now;
  const observation = { ...ctx.previous, startedAtMs, problem };
  if (now - startedAtMs >= step.window)
    return failed(
      "analysis_failed",
      `${step.id} on ${ctx.target.name}: cannot read the ${step.source} source: ${problem}`,
      observation,
    );
  return {
    kind: "waiting",
    observation,
    recheckAtMs: Math.min(now + step.interval, startedAtMs + step.window),
  };
}

async function readCounters(ctx: StepContext, step: AnalysisStep): Promise<HttpCounters> {
  // A pod's address is whatever its current incarnation got.
  const pod = ctx.balancer.pods ? await (await ctx.balancer.pods()).pod(ctx.target.name) : null;
  const host = pod?.host || ctx.target.host;
  const url = `http://${host}:${ctx.target.port}${step.metricsPath}`;
  const res = await fetch(url, { signal: AbortSignal.timeout(READ_TIMEOUT_MS) });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return parseHttpCounters(await res.text());
}

/**
 * The two families the counters source reads, in the Prometheus text format: `http_requests_total` (summed
 * over every series; a `code` label of 5xx counts as an error) and the `http_request_duration_seconds`
 * histogram (buckets summed by `le`). Everything else is ignored.
 */
export function parseHttpCounters(text: string): HttpCounters {
  let requests = 0;
  let errors = 0;
  let seenRequests = false;
  const buckets = new Map<number, number>();
  let count: number | undefined;
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const [, name, labelText = "", raw] = m;
    const value = Number(raw);
    if (!Number.isFinite(value)) continue;
    const labels = parseLabels(labelText);
    if (name === "http_requests_total") {
      seenRequests = true;
      requests += value;
      if (/^5\d\d$/.test(labels.code ?? "")) errors += value;
    } else if (name === "http_request_duration_seconds_bucket" && labels.le !== undefined) {
      const le = labels.le === "+Inf" ? Number.POSITIVE_INFINITY : Number(labels.le);
      if (!Number.isNaN(le)) buckets.set(le, (buckets.get(le) ?? 0) + value);
    } else if (name === "http_request_duration_seconds_count") {
      count = (count ?? 0) + value;
    }
  }
  if (!seenRequests) throw new Error("the metrics have no http_requests_total");
  const finite = [...buckets.keys()].filter(Number.isFinite).sort((a, b) => a - b);
  const total = count ?? buckets.get(Number.POSITIVE_INFINITY);
  if (finite.length === 0 || total === undefined) return { requests, errors };
  return {
    requests,
    errors,
    latency: {
      boundsMs: finite.map((le) => le * 1_000),
      counts: finite.map((le) => buckets.get(le) ?? 0),
      count: total,
    },
  };
}

function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const m of text.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
    labels[m[1] as string] = (m[2] as string).replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
  return labels;
}

/** The fleet's Prometheus, from `balancerConfig.prometheusUrl`. */
export function prometheusUrlOf(ctx: StepContext): string {
  const config = ctx.fleet?.balancerConfig;
  const raw =
    typeof config === "object" && config !== null
      ? (config as Record<string, unknown>).prometheusUrl
      : undefined;
  const fleet = ctx.fleet?.name ?? "the fleet";
  if (raw === undefined)
    throw new EbbError(
      "param_invalid",
      `analysis source prometheus: fleet ${fleet} names no Prometheus (balancerConfig.prometheusUrl)`,
      { details: [{ field: "balancerConfig.prometheusUrl", message: "required by source: prometheus" }] },
    );
  if (typeof raw !== "string" || !/^https?:\/\/[^\s]+$/.test(raw))
    throw new EbbError(
      "param_invalid",
      `fleet ${fleet}: balancerConfig.prometheusUrl must be an http(s) URL`,
      {
        details: [{ field: "balancerConfig.prometheusUrl", message: "must be an http(s) URL" }],
      },
    );
  return raw.replace(/\/+$/, "");
}

/**
 * One instant query. A vector of several series is judged by its worst one (the highest when `failWhen:
 * above`); no series, or NaN (a ratio over no requests), is no data.
 */
async function readQuery(ctx: StepContext, step: AnalysisStep): Promise<number | null> {
  const base = prometheusUrlOf(ctx);
  const query = renderTemplate(step.query ?? "", {
    params: { ...ctx.params, version: ctx.version },
    target: ctx.target,
  });
  const res = await fetch(`${base}/api/v1/query`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ query }).toString(),
    signal: AbortSignal.timeout(READ_TIMEOUT_MS),
  });
  const body = (await res.json().catch(() => null)) as PromResponse | null;
  if (!res.ok || body?.status !== "success")
    throw new Error(`Prometheus ${base}: HTTP ${res.status}${body?.error ? `: ${body.error}` : ""}`);
  return queryValue(body.data, step.failWhen);
}

interface PromResponse {
  status: "success" | "error";
  error?: string;
  data: { resultType: string; result: unknown };
}

export function queryValue(data: PromResponse["data"], failWhen: "above" | "below"): number | null {
  const values: number[] = [];
  if (data.resultType === "scalar") values.push(Number((data.result as [number, string])[1]));
  else if (data.resultType === "vector")
    for (const s of data.result as { value: [number, string] }[]) values.push(Number(s.value[1]));
  else throw new Error(`the query gave a ${data.resultType}; it must give one number (an instant vector)`);
  const numbers = values.filter((v) => !Number.isNaN(v));
  if (numbers.length === 0) return null;
  return failWhen === "above" ? Math.max(...numbers) : Math.min(...numbers);
}
