import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { freePort, waitFor } from "@ebb/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { runLoad } from "../loadgen/index.js";
import { FrontProxy } from "./proxy.js";

const UPSTREAM_HOST = "127.0.4.20";
const PROXY_HOST = "127.0.4.21";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Upstream {
  port: number;
  /** Requests the upstream application saw (its access log). */
  requests: () => number;
  opened: () => number;
  closed: () => number;
}

async function startUpstream(
  keepAliveTimeoutMs: number,
  handler: (req: IncomingMessage, res: ServerResponse, n: number) => void = (_req, res, n) => {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ version: "1.0.0", host: "up", n }));
  },
): Promise<Upstream> {
  let requests = 0;
  let opened = 0;
  let closed = 0;
  const server: Server = createServer((req, res) => handler(req, res, ++requests));
  server.keepAliveTimeout = keepAliveTimeoutMs;
  server.on("connection", (s: Socket) => {
    opened++;
    s.on("close", () => closed++);
  });
  await new Promise<void>((r) => server.listen(0, UPSTREAM_HOST, r));
  cleanups.push(() => {
    server.closeAllConnections();
    server.close();
  });
  return {
    port: (server.address() as AddressInfo).port,
    requests: () => requests,
    opened: () => opened,
    closed: () => closed,
  };
}

async function startProxy(upstreamPort: number, idleTimeoutMs: number): Promise<FrontProxy> {
  const proxy = await FrontProxy.start({
    listen: { host: PROXY_HOST, port: 0 },
    upstream: { host: UPSTREAM_HOST, port: upstreamPort },
    idleTimeoutMs,
  });
  cleanups.push(() => proxy.stop());
  return proxy;
}

interface Answer {
  status: number;
  headers: IncomingMessage["headers"];
  body: string;
}

/** One request on its own client connection, so only the proxy's upstream pool is under test. */
function send(url: string, opts: { method?: string; path?: string; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}${opts.path ?? "/"}`,
      { method: opts.method ?? "GET", agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(opts.body);
  });
}

/**
 * The same request pattern for both keep-alive settings: each request waits until every upstream connection
 * is closed again (by whichever side's idle timeout comes first), so each one finds the pool in that state.
 */
async function spacedRequests(proxy: FrontProxy, upstream: Upstream, count: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < count; i++) {
    statuses.push((await send(proxy.url)).status);
    await waitFor(() => upstream.closed() === upstream.opened(), {
      timeoutMs: 4000,
      what: "idle connection closed",
    });
  }
  return statuses;
}

describe("FrontProxy keep-alive mismatch (domain.md section 2)", () => {
  it("upstream keep-alive shorter than the proxy idle timeout: the reused connection gets RST, client sees 502", async () => {
    // Node 20.20 closes an idle keep-alive connection about 1 s after keepAliveTimeout.
    const upstream = await startUpstream(100);
    const proxy = await startProxy(upstream.port, 10_000);

    const statuses = await spacedRequests(proxy, upstream, 4);

    // Fresh connection works; the next request reuses it after the upstream closed it.
    expect(statuses).toEqual([200, 502, 200, 502]);
    const stats = proxy.stats();
    expect(stats).toMatchObject({
      requests: 4,
      upstreamResets: 2,
      responses502: 2,
      poolReuses: 2,
      poolSize: 0,
    });
    // The failed requests never reached the application: nothing in its log.
    expect(upstream.requests()).toBe(2);
  });

  it("upstream keep-alive longer than the proxy idle timeout: the same pattern gets no 502", async () => {
    const upstream = await startUpstream(3000);
    const proxy = await startProxy(upstream.port, 150);

    const statuses = await spacedRequests(proxy, upstream, 4);

    expect(statuses).toEqual([200, 200, 200, 200]);
    expect(proxy.stats()).toMatchObject({ requests: 4, upstreamResets: 0, responses502: 0 });
    expect(upstream.requests()).toBe(4);
  });

  it("reuses the pooled connection for back-to-back requests", async () => {
    const upstream = await startUpstream(3000);
    const proxy = await startProxy(upstream.port, 3000);
    const bodies: string[] = [];
    for (let i = 0; i < 5; i++) {
      const answer = await send(proxy.url);
      expect(answer.status).toBe(200);
      bodies.push(answer.body);
    }
    expect(bodies.map((b) => (JSON.parse(b) as { n: number }).n)).toEqual([1, 2, 3, 4, 5]);
    expect(proxy.stats()).toMatchObject({ requests: 5, poolReuses: 4, poolSize: 1, responses502: 0 });
    expect(upstream.opened()).toBe(1);
  });
});

describe("FrontProxy HTTP handling", () => {
  it("carries steady keep-alive load without an error, on at most one upstream connection per client", async () => {
    const upstream = await startUpstream(3000);
    const proxy = await startProxy(upstream.port, 3000);
    const report = await runLoad({
      target: { host: PROXY_HOST, port: Number(new URL(proxy.url).port) },
      clients: 5,
      rate: 200,
      durationMs: 500,
    });
    expect(report.requests).toBeGreaterThan(50);
    expect(report.ok).toBe(report.requests);
    expect(report.byServer).toEqual({ up: report.requests });
    expect(upstream.requests()).toBe(report.requests);
    expect(upstream.opened()).toBeLessThanOrEqual(5);
    expect(proxy.stats()).toMatchObject({ requests: report.requests, responses502: 0 });
  });

  it("relays chunked bodies, request bodies, HEAD and status codes", async () => {
    const upstream = await startUpstream(3000, (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        if (req.url === "/chunked") {
          res.write("part one, ");
          res.end("part two");
        } else if (req.url === "/missing") {
          res.writeHead(404, { "x-reason": "gone" }).end("nope");
        } else {
          const text = `${req.method} ${req.url} ${Buffer.concat(chunks).toString()}`;
          // Explicit length: Node omits it on HEAD otherwise, and HEAD must pass the upstream's through.
          res.writeHead(200, { "content-type": "text/plain", "content-length": Buffer.byteLength(text) });
          res.end(text);
        }
      });
    });
    const proxy = await startProxy(upstream.port, 3000);

    expect((await send(proxy.url, { path: "/chunked" })).body).toBe("part one, part two");
    const posted = await send(proxy.url, { method: "POST", path: "/echo?x=1", body: "payload" });
    expect(posted).toMatchObject({ status: 200, body: "POST /echo?x=1 payload" });
    expect(posted.headers["content-type"]).toBe("text/plain");
    const head = await send(proxy.url, { method: "HEAD", path: "/echo" });
    expect(head.status).toBe(200);
    expect(head.body).toBe("");
    expect(head.headers["content-length"]).toBe(String("HEAD /echo ".length));
    const missing = await send(proxy.url, { path: "/missing" });
    expect(missing).toMatchObject({ status: 404, body: "nope" });
    expect(missing.headers["x-reason"]).toBe("gone");
    // All four on one upstream connection: every response was framed correctly.
    expect(upstream.opened()).toBe(1);
    expect(proxy.stats().poolReuses).toBe(3);
  });

  it("does not pool a connection the upstream marks Connection: close", async () => {
    const upstream = await startUpstream(3000, (_req, res) => {
      res.setHeader("connection", "close");
      res.end("bye");
    });
    const proxy = await startProxy(upstream.port, 3000);
    expect((await send(proxy.url)).status).toBe(200);
    expect((await send(proxy.url)).status).toBe(200);
    expect(proxy.stats()).toMatchObject({ poolReuses: 0, poolSize: 0, upstreamResets: 0 });
    expect(upstream.opened()).toBe(2);
  });

  it("answers 502 without counting a reset when the upstream is down", async () => {
    const proxy = await startProxy(await freePort(UPSTREAM_HOST), 3000);
    const answer = await send(proxy.url);
    expect(answer.status).toBe(502);
    expect(answer.body).toMatch(/connect/);
    expect(proxy.stats()).toMatchObject({ requests: 1, responses502: 1, upstreamResets: 0 });
  });

  it("rejects bad options naming the field", async () => {
    const listen = { host: PROXY_HOST, port: 0 };
    await expect(
      FrontProxy.start({ listen, upstream: { host: UPSTREAM_HOST, port: 0 }, idleTimeoutMs: 1 }),
    ).rejects.toThrow(/upstream\.port/);
    await expect(
      FrontProxy.start({ listen, upstream: { host: UPSTREAM_HOST, port: 1 }, idleTimeoutMs: 0 }),
    ).rejects.toThrow(/idleTimeoutMs/);
  });
});
