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
/** Open streams one principal may hold (per API process): a loop of EventSources must not exhaust it. */
export const MAX_STREAMS_PER_PRINCIPAL = 16;
/** Bytes queued for a reader that does not read; past this the stalled reader is dropped. */
export const MAX_SEND_BUFFER_BYTES = 1024 * 1024;
/** Our SSE ids are PostgreSQL bigints: a longer or larger id would fail every query of the stream. */
const MAX_EVENT_ID = 9_223_372_036_854_775_807n;

const openPerPrincipal = new Map<string, number>();

function refuse(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  details: unknown,
): SseStream {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8" });
  res.end(JSON.stringify({ error: { code, message, details, requestId: "" } }));
  return {
    send() {},
    close() {},
    onClose(fn) {
      fn();
    },
    closed: true,
    lastEventId: undefined,
  };
}

export function openSse(req: IncomingMessage, res: ServerResponse, heartbeatMs = 15_000): SseStream {
  const header = req.headers["last-event-id"];
  const lastEventId = typeof header === "string" && header !== "" ? header : undefined;
  if (lastEventId !== undefined && (!/^\d{1,19}$/.test(lastEventId) || BigInt(lastEventId) > MAX_EVENT_ID)) {
    return refuse(res, 400, "param_invalid", "Last-Event-ID: not an event id this API sent", [
      { field: "Last-Event-ID", message: "must be an event id this API sent" },
    ]);
  }
  const principal = (req as IncomingMessage & { principal?: { kind: string; id: string } }).principal;
  const owner = principal === undefined ? undefined : `${principal.kind}:${principal.id}`;
  if (owner !== undefined && (openPerPrincipal.get(owner) ?? 0) >= MAX_STREAMS_PER_PRINCIPAL) {
    return refuse(
      res,
      429,
      "rate_limited",
      `at most ${MAX_STREAMS_PER_PRINCIPAL} open event streams per caller; close one first`,
      null,
    );
  }
  if (owner !== undefined) openPerPrincipal.set(owner, (openPerPrincipal.get(owner) ?? 0) + 1);
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
    if (owner !== undefined) {
      const left = (openPerPrincipal.get(owner) ?? 1) - 1;
      if (left > 0) openPerPrincipal.set(owner, left);
      else openPerPrincipal.delete(owner);
    }
    clearInterval(heartbeat);
    for (const fn of closers.splice(0)) fn();
    res.end();
  };
  // A reader that stopped reading (a stalled socket, a paused tab behind a proxy) would make every event
  // queue in this process's memory: past the cap it is dropped, and reconnects with Last-Event-ID.
  const write = (text: string) => {
    if (closed) return;
    if (res.writableLength > MAX_SEND_BUFFER_BYTES) {
      end();
      res.destroy();
      return;
    }
    res.write(text);
  };
  const heartbeat = setInterval(() => write(": keep-alive\n\n"), heartbeatMs);
  heartbeat.unref();
  req.on("close", end);
  res.on("close", end);
  return {
    send(event, data, id) {
      write(`${id === undefined ? "" : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    },
    close: end,
    onClose(fn) {
      if (closed) fn();
      else closers.push(fn);
    },
    get closed() {
      return closed;
    },
    lastEventId,
  };
}
