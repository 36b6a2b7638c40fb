import { once } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { connect } from "node:net";
import { waitFor } from "@ebb/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_STREAMS_PER_PRINCIPAL, openSse, type SseStream } from "./sse.js";

const HOST = "127.0.7.41";
let server: Server;
let base = "";
const opened: SseStream[] = [];
const BIG = "x".repeat(64 * 1024);

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const who = new URL(req.url ?? "/", "http://h").searchParams.get("who");
    if (who) (req as IncomingMessage & { principal?: unknown }).principal = { kind: "token", id: who };
    const stream = openSse(req, res);
    opened.push(stream);
    if (req.url?.startsWith("/flood")) {
      const flood = setInterval(() => (stream.closed ? clearInterval(flood) : stream.send("big", BIG)), 1);
    }
  });
  server.listen(0, HOST);
  await once(server, "listening");
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no address");
  base = `http://${HOST}:${address.port}`;
});

afterAll(async () => {
  for (const s of opened) s.close();
  server.closeAllConnections();
  server.close();
});

describe("event streams", () => {
  it("a 19-digit Last-Event-ID beyond a bigint gets 400, not a stream that can never answer", async () => {
    const res = await fetch(`${base}/`, { headers: { "last-event-id": "9999999999999999999" } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/Last-Event-ID/);
    const ok = new AbortController();
    const fine = await fetch(`${base}/`, {
      headers: { "last-event-id": "9223372036854775807" },
      signal: ok.signal,
    });
    expect(fine.status).toBe(200);
    ok.abort();
  });

  it("a principal may hold a bounded number of open streams", async () => {
    const aborts: AbortController[] = [];
    for (let i = 0; i < MAX_STREAMS_PER_PRINCIPAL; i++) {
      const a = new AbortController();
      aborts.push(a);
      expect((await fetch(`${base}/?who=ci`, { signal: a.signal })).status).toBe(200);
    }
    expect((await fetch(`${base}/?who=ci`)).status).toBe(429);
    // Another principal is not affected, and closing one frees a place.
    const other = new AbortController();
    expect((await fetch(`${base}/?who=other`, { signal: other.signal })).status).toBe(200);
    aborts[0]?.abort();
    await waitFor(
      async () => {
        const a = new AbortController();
        const res = await fetch(`${base}/?who=ci`, { signal: a.signal });
        a.abort();
        return res.status === 200;
      },
      { timeoutMs: 10_000, what: "a freed stream slot" },
    );
    for (const a of [...aborts, other]) a.abort();
  });

  it("drops a reader that stopped reading instead of queueing its events in memory", async () => {
    const before = opened.length;
    const socket = connect({ host: HOST, port: Number(new URL(base).port) });
    socket.write(`GET /flood HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`);
    socket.pause(); // never reads
    await waitFor(() => opened.length > before, { timeoutMs: 10_000, what: "the stream opened" });
    const stream = opened[before] as SseStream;
    await waitFor(() => stream.closed, { timeoutMs: 30_000, what: "the stalled reader dropped" });
    socket.destroy();
  });
});
