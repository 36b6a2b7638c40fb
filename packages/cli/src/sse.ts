import { ApiError, type EbbClient } from "./client.js";

export interface SseMessage {
  event: string;
  data: string;
  id?: string;
}

/**
 * Follows a Server-Sent Events stream of the API, reconnecting with Last-Event-ID after a cut (an API
 * restart, a proxy's idle timeout) until `onMessage` returns true or the signal aborts. A 4xx answer is
 * final (revoked token, unknown rollout) and rejects.
 */
export async function follow(
  client: EbbClient,
  path: string,
  onMessage: (m: SseMessage) => boolean | undefined,
  opts: { signal?: AbortSignal; onReconnect?: (delayMs: number, why: string) => void } = {},
): Promise<void> {
  let lastId: string | undefined;
  let failures = 0;
  for (;;) {
    if (opts.signal?.aborted) return;
    let why = "the stream ended";
    try {
      const res = await client.raw(path, {
        headers: { accept: "text/event-stream", ...(lastId ? { "last-event-id": lastId } : {}) },
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      if (res.status >= 400 && res.status < 500) {
        const text = await res.text();
        let message = text.slice(0, 300);
        try {
          message = (JSON.parse(text) as { error: { message: string } }).error.message;
        } catch {}
        // An ApiError: a 401/403 on the stream exits as "not authorised", like any other request.
        throw Object.assign(new ApiError(`${path}: ${res.status} ${message}`, res.status, "http_error"), {
          final: true,
        });
      }
      if (!res.ok || !res.body) throw new Error(`${path}: ${res.status}`);
      failures = 0;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let cut = buffer.indexOf("\n\n");
        while (cut >= 0) {
          const message = parse(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
          if (message) {
            if (message.id !== undefined) lastId = message.id;
            if (onMessage(message) === true) {
              await reader.cancel().catch(() => {});
              return;
            }
          }
          cut = buffer.indexOf("\n\n");
        }
      }
    } catch (err) {
      if ((err as { final?: boolean }).final) throw err;
      if (opts.signal?.aborted) return;
      why = err instanceof Error ? err.message : String(err);
    }
    failures++;
    const delay = Math.min(10_000, 250 * 2 ** Math.min(failures, 6));
    opts.onReconnect?.(delay, why);
    await new Promise((r) => setTimeout(r, delay));
  }
}

function parse(block: string): SseMessage | undefined {
  let event = "message";
  const data: string[] = [];
  let id: string | undefined;
  for (const line of block.split("\n")) {
    if (line === "" || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
    else if (field === "id") id = value;
  }
  if (data.length === 0) return undefined;
  return { event, data: data.join("\n"), ...(id === undefined ? {} : { id }) };
}
