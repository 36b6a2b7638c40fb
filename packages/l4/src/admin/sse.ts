import type { ServerResponse } from "node:http";
import type { DeviceEvent } from "../types.js";

export interface EventSource {
  events(sinceSeq?: number): DeviceEvent[];
  onEvent(listener: (e: DeviceEvent) => void): () => void;
}

const HEARTBEAT_MS = 15_000;
// A subscriber that stops reading must not make the device buffer without bound.
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

/**
 * `GET /events` as Server-Sent Events: replays the ring buffer after `Last-Event-ID` (or `?since=`), then
 * streams live events. Replay and subscription happen in one tick, so no event falls between them.
 */
export function streamEvents(
  res: ServerResponse,
  source: EventSource,
  sinceSeq: number | undefined,
  streams: Set<ServerResponse>,
): void {
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    connection: "keep-alive",
    "x-accel-buffering": "no",
  });
  res.write(": ebb-l4 events\n\n");
  const send = (e: DeviceEvent): void => {
    if (res.writableLength > MAX_BUFFERED_BYTES) {
      res.destroy();
      return;
    }
    res.write(`id: ${e.seq}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
  };
  if (sinceSeq !== undefined) for (const e of source.events(sinceSeq)) send(e);
  const unsubscribe = source.onEvent(send);
  const heartbeat = setInterval(() => res.write(": heartbeat\n\n"), HEARTBEAT_MS);
  heartbeat.unref();
  streams.add(res);
  const cleanup = (): void => {
    unsubscribe();
    clearInterval(heartbeat);
    streams.delete(res);
  };
  // The response's close, not the request's: a GET's request stream may close as soon as it was read.
  res.on("close", cleanup);
}
