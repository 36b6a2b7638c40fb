import type { IncomingMessage, ServerResponse } from "node:http";

export interface SseStream {
  /** Sends one event; `id` lets a reconnecting EventSource resume with Last-Event-ID. */
  send(event: string, data: unknown, id?: string): void;
  /** Ends the stream from our side (revoked credential, shutdown). */
  close(): void;
  /** Runs when the stream ends, whoever ended it. */
  onClose(fn: () => void): void;
  readonly closed: boolean;
  /** The Last-Event-ID the client reconnected with, if any. */
  readonly lastEventId: string | undefined;
}

/**
 * Turns a response into a Server-Sent Events stream. Headers that keep proxies (the dashboard's, nginx)
 * from buffering it; a comment every 15 s so idle connections are not cut by a proxy's idle timeout and a
 * dead client is noticed.
 */
export function openSse(req: IncomingMessage, res: ServerResponse, heartbeatMs = 15_000): SseStream {
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache, no-transform",
    connection: "keep-alive",
    "x-accel-buffering": "no",
  });
  res.write("retry: 2000\n\n");
  const closers: (() => void)[] = [];
  let closed = false;
  const end = () => {
    if (closed) return;
    closed = true;
    clearInterval(heartbeat);
    for (const fn of closers.splice(0)) fn();
    res.end();
  };
  const heartbeat = setInterval(() => res.write(": keep-alive\n\n"), heartbeatMs);
  heartbeat.unref();
  req.on("close", end);
  res.on("close", end);
  const header = req.headers["last-event-id"];
  return {
    send(event, data, id) {
      if (closed) return;
      res.write(`${id === undefined ? "" : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    },
    close: end,
    onClose(fn) {
      if (closed) fn();
      else closers.push(fn);
    },
    get closed() {
      return closed;
    },
    lastEventId: typeof header === "string" && header !== "" ? header : undefined,
  };
}
