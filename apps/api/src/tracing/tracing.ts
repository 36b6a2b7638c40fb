import { AsyncLocalStorage } from "node:async_hooks";
import { createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { isTerminal } from "@ebb/core";
import type { EngineObserver, RolloutStatusChange, StepFinished } from "@ebb/engine";
import {
  type Context,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import { parseTraceParent } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, NodeTracerProvider, RandomIdGenerator } from "@opentelemetry/sdk-trace-node";
import { type JobMeta, runningJobMeta, setRequestTraceSource } from "../engine/job-meta.js";

/*
 * OpenTelemetry traces, loaded only when OTEL_EXPORTER_OTLP_ENDPOINT is set (bootstrap imports this file
 * dynamically): without it no OpenTelemetry SDK code runs and nothing is patched.
 *
 * Nothing global is registered either (no global provider, context manager or propagator; no
 * monkey-patched modules): spans are started by hand with explicit parents, so two apps in one process
 * (tests) keep their traces apart.
 *
 *   HTTP request span (SERVER, W3C `traceparent` honoured)
 *     └─ rollout span: from the rollout's creation to its end, whichever process ends it
 *          └─ one span per step attempt on a target, from its start to its committed result
 *
 * A rollout lives across processes and hours, longer than any span object, so its span is written once,
 * when it ends, with its start time and a span id derived from the rollout id: every step span, in any
 * worker, can name it as parent beforehand. The trace id and the request span travel in job meta
 * (engine/job-meta.ts), with the request id.
 */

export interface Tracing {
  /** Express middleware: a SERVER span per request. After the request-id middleware. */
  middleware(req: IncomingMessage, res: ServerResponse, next: () => void): void;
  observer: EngineObserver;
  /** Exports what is buffered and stops. */
  shutdown(): Promise<void>;
}

/** Lets the tracer start a span under an id we chose: the rollout span, written when the rollout ends. */
class ChosenIdGenerator extends RandomIdGenerator {
  next: string | undefined;
  constructor() {
    super();
    const random = this.generateSpanId;
    this.generateSpanId = () => {
      const chosen = this.next;
      this.next = undefined;
      return chosen ?? random();
    };
  }
}

/** The rollout span's id: 8 bytes of sha256(rollout id), never all zero (an invalid span id). */
export function rolloutSpanId(rolloutId: string): string {
  const hex = createHash("sha256").update(`ebb.rollout:${rolloutId}`).digest("hex").slice(0, 16);
  return hex === "0000000000000000" ? "0000000000000001" : hex;
}

function remoteParent(traceId: string, spanId: string): Context {
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId,
    spanId,
    traceFlags: TraceFlags.SAMPLED,
    isRemote: true,
  });
}

export function startTracing(options: { endpoint: string; serviceName: string; role: string }): Tracing {
  const ids = new ChosenIdGenerator();
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ "service.name": options.serviceName, "ebb.role": options.role }),
    idGenerator: ids,
    spanProcessors: [
      new BatchSpanProcessor(
        new OTLPTraceExporter({ url: `${options.endpoint.replace(/\/+$/, "")}/v1/traces` }),
      ),
    ],
  });
  const tracer: Tracer = provider.getTracer("ebb");
  const requestSpans = new AsyncLocalStorage<Span>();

  setRequestTraceSource(() => {
    const span = requestSpans.getStore();
    if (!span) return undefined;
    const { traceId, spanId } = span.spanContext();
    return { traceId, parentSpanId: spanId };
  });

  /** The trace a job or request of this rollout belongs to, if any. */
  const currentTrace = (): JobMeta["trace"] => {
    const fromJob = runningJobMeta()?.trace;
    if (fromJob) return fromJob;
    const span = requestSpans.getStore();
    if (!span) return undefined;
    const { traceId, spanId } = span.spanContext();
    return { traceId, parentSpanId: spanId };
  };

  const observer: EngineObserver = {
    stepFinished(step: StepFinished) {
      const t = currentTrace();
      const parent = t ? remoteParent(t.traceId, rolloutSpanId(step.rolloutId)) : ROOT_CONTEXT;
      const span = tracer.startSpan(
        `step ${step.stepType}`,
        {
          startTime: step.startedAt,
          attributes: {
            "ebb.rollout.id": step.rolloutId,
            "ebb.target": step.target,
            "ebb.step.id": step.stepId,
            "ebb.step.type": step.stepType,
            "ebb.step.index": step.stepIndex,
            "ebb.step.attempt": step.attempt,
            "ebb.step.outcome": step.outcome,
          },
        },
        parent,
      );
      if (step.outcome === "failed") span.setStatus({ code: SpanStatusCode.ERROR });
      span.end(step.endedAt);
    },
    rolloutStatusChanged(change: RolloutStatusChange) {
      if (!isTerminal(change.to) || change.from === change.to) return;
      const t = currentTrace();
      ids.next = rolloutSpanId(change.rolloutId);
      const span = tracer.startSpan(
        "rollout",
        {
          startTime: change.createdAt,
          attributes: {
            "ebb.rollout.id": change.rolloutId,
            "ebb.rollout.status": change.to,
            "ebb.fleet": change.fleet,
            "ebb.runbook": change.runbook,
          },
        },
        t ? remoteParent(t.traceId, t.parentSpanId) : ROOT_CONTEXT,
      );
      ids.next = undefined;
      if (change.to !== "succeeded") span.setStatus({ code: SpanStatusCode.ERROR, message: change.to });
      span.end(change.at);
    },
  };

  return {
    observer,
    middleware(req, res, next) {
      const header = req.headers.traceparent;
      const parsed = typeof header === "string" ? parseTraceParent(header) : null;
      const parent = parsed ? trace.setSpanContext(ROOT_CONTEXT, parsed) : ROOT_CONTEXT;
      const path = (req.url ?? "/").split("?")[0] ?? "/";
      const span = tracer.startSpan(
        `${req.method ?? "GET"}`,
        {
          kind: SpanKind.SERVER,
          attributes: { "http.request.method": req.method ?? "GET", "url.path": path },
        },
        parent,
      );
      res.once("close", () => {
        // Express leaves the matched route on the request: `/api/v1/rollouts/:id`, never the ids.
        const route = (req as IncomingMessage & { route?: { path?: unknown } }).route?.path;
        const requestId = res.getHeader("x-request-id");
        if (typeof route === "string") {
          span.updateName(`${req.method} ${route}`);
          span.setAttribute("http.route", route);
        }
        if (requestId !== undefined) span.setAttribute("ebb.request_id", String(requestId));
        span.setAttribute("http.response.status_code", res.statusCode);
        if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
      });
      requestSpans.run(span, next);
    },
    async shutdown() {
      setRequestTraceSource(undefined);
      await provider.shutdown();
    },
  };
}
