"use client";

import { useEffect, useRef, useState } from "react";
import { reconnectDelayMs } from "./backoff";

export type StreamStatus = "connecting" | "open" | "reconnecting" | "closed";

export type StreamHandlers = Record<string, (data: unknown) => void>;

/**
 * Subscribes to one of the API's Server-Sent Events streams (same origin, so the session cookie goes
 * along) while the component is mounted. A dropped connection is retried by EventSource itself, which
 * sends Last-Event-ID so the stream resumes where it left off. A non-200 answer (the API restarting
 * behind the dashboard answers 502, an expired session 401) makes EventSource give up for good: then a new
 * one is opened after a growing delay. `url` null: no stream.
 */
export function useEventStream(url: string | null, handlers: StreamHandlers): StreamStatus {
  const [status, setStatus] = useState<StreamStatus>(url ? "connecting" : "closed");
  // Handlers change on every render; the stream must not reconnect because of that.
  const handlersRef = useRef(handlers);
  handlersRef.current = handlers;
  const eventNames = Object.keys(handlers).sort().join(",");

  useEffect(() => {
    if (!url) {
      setStatus("closed");
      return;
    }
    let source: EventSource | null = null;
    let timer: ReturnType<typeof setTimeout> | null = null;
    let attempt = 0;
    let disposed = false;

    const connect = () => {
      if (disposed) return;
      setStatus(attempt === 0 ? "connecting" : "reconnecting");
      const es = new EventSource(url);
      source = es;
      es.onopen = () => {
        attempt = 0;
        setStatus("open");
      };
      es.onerror = () => {
        if (disposed) return;
        setStatus("reconnecting");
        if (es.readyState !== EventSource.CLOSED) return; // EventSource is retrying by itself
        timer = setTimeout(connect, reconnectDelayMs(attempt++));
      };
      for (const name of eventNames.split(",").filter(Boolean)) {
        es.addEventListener(name, (event) => {
          let data: unknown;
          try {
            data = JSON.parse((event as MessageEvent<string>).data);
          } catch {
            return; // a malformed event is dropped; the next snapshot or sample replaces it
          }
          handlersRef.current[name]?.(data);
        });
      }
    };
    connect();
    return () => {
      disposed = true;
      if (timer) clearTimeout(timer);
      source?.close();
    };
  }, [url, eventNames]);

  return status;
}
