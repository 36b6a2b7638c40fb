import type { IncomingMessage, ServerResponse } from "node:http";
import type { EbbMetrics } from "./metrics.js";

/**
 * Counts open Server-Sent Event streams from the outside: a response whose head says
 * `text/event-stream` is one open stream until the response closes. The stream code (common/sse.ts) and
 * its controllers need no hook for it.
 */
export function eventStreamCounter(metrics: EbbMetrics) {
  return (_req: IncomingMessage, res: ServerResponse, next: () => void): void => {
    const writeHead = res.writeHead;
    res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
      if (isEventStream(args) || String(res.getHeader("content-type") ?? "").startsWith("text/event-stream"))
        res.once("close", metrics.streamOpened());
      return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
    } as ServerResponse["writeHead"];
    next();
  };
}

function isEventStream(args: unknown[]): boolean {
  const headers = args.find((a, i) => i > 0 && typeof a === "object" && a !== null) as
    | Record<string, unknown>
    | unknown[]
    | undefined;
  const value = Array.isArray(headers)
    ? undefined
    : Object.entries(headers ?? {}).find(([k]) => k.toLowerCase() === "content-type")?.[1];
  return String(value ?? "").startsWith("text/event-stream");
}
