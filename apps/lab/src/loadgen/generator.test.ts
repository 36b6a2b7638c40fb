import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import {
  type AddressInfo,
  createServer as createNetServer,
  type Server as NetServer,
  type Socket,
} from "node:net";
import { freePort, waitFor } from "@ebb/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { LoadGenerator } from "./generator.js";
import { runLoad } from "./run.js";
import type { ErrorKind, ErrorSample, LoadReport, SecondReport } from "./types.js";

const HOST = "127.0.4.1";

const servers: (Server | NetServer)[] = [];
const generators: LoadGenerator[] = [];

afterEach(async () => {
  await Promise.all(generators.splice(0).map((g) => g.stop()));
  for (const s of servers.splice(0)) {
    if ("closeAllConnections" in s) s.closeAllConnections();
    s.close();
  }
});

interface Served {
  port: number;
  /** Requests the server received. */
  received: () => number;
  /** Server-side sockets opened / closed. */
  opened: () => number;
  closed: () => number;
  maxConcurrent: () => number;
}

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Served> {
  let received = 0;
  let opened = 0;
  let closed = 0;
  let active = 0;
  let maxConcurrent = 0;
  const server = createServer((req, res) => {
    received++;
    active++;
    maxConcurrent = Math.max(maxConcurrent, active);
    res.on("close", () => active--);
    handler(req, res);
  });
  server.on("connection", (s: Socket) => {
    opened++;
    s.on("close", () => closed++);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, HOST, r));
  return {
    port: (server.address() as AddressInfo).port,
    received: () => received,
    opened: () => opened,
    closed: () => closed,
    maxConcurrent: () => maxConcurrent,
  };
}

/** A raw TCP server, for answers no HTTP server would send. */
async function serveRaw(onRequest: (socket: Socket) => void): Promise<number> {
  const server = createNetServer((socket) => {
    socket.on("error", () => {});
    socket.once("data", () => onRequest(socket));
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, HOST, r));
  return (server.address() as AddressInfo).port;
}

const json = (status: number, body: object) => (_req: IncomingMessage, res: ServerResponse) => {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
};

/** A synchronous stall of this process, as a GC pause or a busy test process (running the proxy) causes. */
function stall(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {}
}

function errorTotal(report: LoadReport): number {
  return Object.values(report.errors).reduce((a, b) => a + b, 0);
}

/** Every request counted exactly once: as ok or as one error kind, in the totals and in the seconds. */
function expectConsistent(report: LoadReport): void {
  expect(report.ok + errorTotal(report)).toBe(report.requests);
  expect(report.seconds.reduce((a, s) => a + s.requests, 0)).toBe(report.requests);
  expect(report.seconds.reduce((a, s) => a + s.newConnections, 0)).toBe(report.newConnections);
}

function onlyKind(report: LoadReport, kind: ErrorKind): void {
  expect(report.requests).toBeGreaterThan(0);
  expect(report.ok).toBe(0);
  expect(report.errors[kind]).toBe(report.requests);
  expectConsistent(report);
  expect(report.errorSamples[0]?.kind).toBe(kind);
}

describe("LoadGenerator counting", () => {
  it("paces to the requested rate on one keep-alive connection per client and counts who answered", async () => {
    const vm = await serve(json(200, { version: "1.2.3", host: "vm-a" }));
    const seconds: SecondReport[] = [];
    const gen = new LoadGenerator({
      target: { host: HOST, port: vm.port },
      clients: 4,
      rate: 200,
      durationMs: 1000,
      recordLatency: true,
    });
    generators.push(gen);
    gen.on("second", (s: SecondReport) => seconds.push(s));
    const ended = new Promise<LoadReport>((r) => gen.once("end", r));
    gen.start();
    const report = await ended;

    expect(report.requests).toBeGreaterThanOrEqual(150);
    expect(report.requests).toBeLessThanOrEqual(250);
    expect(report.ok).toBe(report.requests);
    expect(report.byServer).toEqual({ "vm-a": report.requests });
    expect(report.byVersion).toEqual({ "1.2.3": report.requests });
    expect(report.newConnections).toBe(4);
    expect(vm.opened()).toBe(4);
    // Nothing lost and nothing invented: what the server saw is what the report counts.
    expect(vm.received()).toBe(report.requests);
    expect(vm.maxConcurrent()).toBeLessThanOrEqual(4);
    expectConsistent(report);
    expect(seconds).toEqual(report.seconds);
    expect(seconds[0]?.second).toBe(0);
    const l = report.latencyMs;
    expect(l).toBeDefined();
    expect(l && l.p50 > 0 && l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.max).toBe(true);
  });

  it("counts a non-JSON answer under unknown", async () => {
    const vm = await serve((_req, res) => res.end("hello"));
    const report = await runLoad({
      target: { host: HOST, port: vm.port },
      clients: 1,
      rate: 50,
      durationMs: 200,
    });
    expect(report.ok).toBeGreaterThan(0);
    expect(report.byServer).toEqual({ unknown: report.ok });
    expect(report.byVersion).toEqual({ unknown: report.ok });
    expect(report.latencyMs).toBeUndefined();
  });

  it("treats Connection: close as success and opens a new connection for the next request", async () => {
    const vm = await serve((_req, res) => {
      res.setHeader("connection", "close");
      res.end(JSON.stringify({ version: "1", host: "vm-b" }));
    });
    const report = await runLoad({
      target: { host: HOST, port: vm.port },
      clients: 2,
      rate: 100,
      durationMs: 500,
    });
    expect(report.requests).toBeGreaterThan(10);
    expect(errorTotal(report)).toBe(0);
    expect(report.newConnections).toBe(report.requests);
    expect(vm.opened()).toBe(report.requests);
    expectConsistent(report);
  });

  it("saturates with rate 0 without ever running two requests on one client", async () => {
    const vm = await serve(json(200, { version: "1", host: "vm-a" }));
    const report = await runLoad({
      target: { host: HOST, port: vm.port },
      clients: 4,
      rate: 0,
      durationMs: 300,
    });
    expect(report.requests).toBeGreaterThan(200);
    expect(errorTotal(report)).toBe(0);
    expect(vm.maxConcurrent()).toBeLessThanOrEqual(4);
    expect(report.newConnections).toBe(4);
    expect(vm.received()).toBe(report.requests);
  });

  it("spreads the clients over several targets round robin, in one report", async () => {
    const a = await serve(json(200, { version: "1", host: "vm-a" }));
    const b = await serve(json(200, { version: "1", host: "vm-b" }));
    const report = await runLoad({
      target: [
        { host: HOST, port: a.port },
        { host: HOST, port: b.port },
      ],
      clients: 4,
      rate: 0,
      durationMs: 200,
    });
    expect(a.opened()).toBe(2);
    expect(b.opened()).toBe(2);
    expect(report.byServer["vm-a"]).toBe(a.received());
    expect(report.byServer["vm-b"]).toBe(b.received());
    expect(errorTotal(report)).toBe(0);
  });

  it("stop() waits for in-flight requests and counts them", async () => {
    const vm = await serve((_req, res) => setTimeout(() => res.end("late"), 150));
    const gen = new LoadGenerator({ target: { host: HOST, port: vm.port }, clients: 3, rate: 100 });
    generators.push(gen);
    gen.start();
    await waitFor(() => vm.received() >= 3, { timeoutMs: 2000, what: "3 requests in flight" });
    const report = await gen.stop();
    expect(report.requests).toBe(vm.received());
    expect(report.ok).toBe(report.requests);
    expect(gen.snapshot().requests).toBe(report.requests);
    await waitFor(() => vm.closed() === vm.opened(), { timeoutMs: 2000, what: "client connections closed" });
  });

  it("reports how long its own event loop stalled, so a timeout caused by its process can be told apart", async () => {
    const vm = await serve(json(200, { version: "1", host: "vm-a" }));
    const gen = new LoadGenerator({ target: { host: HOST, port: vm.port }, clients: 2, rate: 100 });
    generators.push(gen);
    gen.start();
    await waitFor(() => vm.received() >= 2, { timeoutMs: 2000, what: "2 requests" });
    stall(300);
    // The monitor's timer records the stall once the loop runs again.
    await waitFor(() => gen.snapshot().loopStallMaxMs >= 250, {
      timeoutMs: 2000,
      what: "the stall recorded",
    });
    const report = await gen.stop();
    expect(report.loopStallMaxMs).toBeLessThan(5_000);
  });

  it("rejects bad options naming the field", () => {
    const target = { host: HOST, port: 8080 };
    expect(() => new LoadGenerator({ target, clients: 0, rate: 1 })).toThrow(/LoadOptions\.clients/);
    expect(() => new LoadGenerator({ target, clients: 1, rate: -1 })).toThrow(/LoadOptions\.rate/);
    expect(() => new LoadGenerator({ target: { host: HOST, port: 0 }, clients: 1, rate: 1 })).toThrow(
      /LoadOptions\.target\.port/,
    );
    expect(() => new LoadGenerator({ target, clients: 1, rate: 1, path: "x" })).toThrow(/LoadOptions\.path/);
    expect(() => new LoadGenerator({ target: [target, { host: "", port: 1 }], clients: 1, rate: 1 })).toThrow(
      /LoadOptions\.target\[1\]\.host/,
    );
    expect(() => new LoadGenerator({ target, clients: 1, rate: 1, timeoutMs: 0 })).toThrow(
      /LoadOptions\.timeoutMs/,
    );
  });
});

describe("LoadGenerator error classification (real sockets)", () => {
  it("a server resetting the connection is rst, and each error is emitted as a sample", async () => {
    const vm = await serve((req) => req.socket.resetAndDestroy());
    const gen = new LoadGenerator({
      target: { host: HOST, port: vm.port },
      clients: 2,
      rate: 40,
      durationMs: 300,
    });
    generators.push(gen);
    const samples: ErrorSample[] = [];
    gen.on("error", (s: ErrorSample) => samples.push(s));
    const ended = new Promise<LoadReport>((r) => gen.once("end", r));
    gen.start();
    const report = await ended;
    onlyKind(report, "rst");
    expect(report.errorSamples[0]?.message).toMatch(/ECONNRESET/);
    expect(samples).toHaveLength(report.requests);
    // No retries: one request per error, and every reset request started a new connection.
    expect(vm.received()).toBe(report.requests);
    expect(report.newConnections).toBe(report.requests);
  });

  it("a connection closed (FIN) before any response is rst ('socket hang up')", async () => {
    const vm = await serve((req) => req.socket.destroy());
    const report = await runLoad({
      target: { host: HOST, port: vm.port },
      clients: 1,
      rate: 40,
      durationMs: 200,
    });
    onlyKind(report, "rst");
    expect(report.errorSamples[0]?.message).toMatch(/socket hang up/);
  });

  it("a closed port is refused", async () => {
    const port = await freePort(HOST);
    const report = await runLoad({ target: { host: HOST, port }, clients: 2, rate: 40, durationMs: 200 });
    onlyKind(report, "refused");
  });

  it("a hung response is a timeout and the request is destroyed", async () => {
    const vm = await serve(() => {});
    const report = await runLoad({
      target: { host: HOST, port: vm.port },
      clients: 2,
      rate: 20,
      timeoutMs: 150,
      durationMs: 400,
    });
    onlyKind(report, "timeout");
    expect(report.errorSamples[0]?.message).toMatch(/150 ms/);
    // Destroyed, not left hanging: every connection the server saw is closed.
    await waitFor(() => vm.opened() > 0 && vm.closed() === vm.opened(), {
      timeoutMs: 2000,
      what: "sockets closed",
    });
  });

  it("a stall of its own process is not a timeout: an answer that arrived during it still counts", async () => {
    let answered = 0;
    const vm = await serve((_req, res) => {
      json(200, { version: "1", host: "vm-a" })(_req, res);
      // The third: the event-loop monitor misses a stall before its first sample.
      if (++answered !== 3) return;
      // The answer is on its way; then this process stalls past the deadline. The deadline timer then fires
      // before the answer can be read.
      stall(700);
    });
    const report = await runLoad({
      target: { host: HOST, port: vm.port },
      clients: 1,
      rate: 20,
      timeoutMs: 300,
      durationMs: 1_200,
    });
    expect(report.loopStallMaxMs).toBeGreaterThanOrEqual(600);
    expect(errorTotal(report), JSON.stringify(report.errorSamples)).toBe(0);
    expect(report.ok).toBe(report.requests);
  });

  it("a 503 is http5xx and a 404 is http4xx, still counted by server", async () => {
    const down = await serve(json(503, { version: "1", host: "vm-c" }));
    const r5 = await runLoad({
      target: { host: HOST, port: down.port },
      clients: 1,
      rate: 40,
      durationMs: 200,
    });
    onlyKind(r5, "http5xx");
    expect(r5.byServer).toEqual({ "vm-c": r5.requests });

    const missing = await serve(json(404, { version: "1", host: "vm-d" }));
    const r4 = await runLoad({
      target: { host: HOST, port: missing.port },
      clients: 1,
      rate: 40,
      durationMs: 200,
    });
    onlyKind(r4, "http4xx");
  });

  it("a body cut short by FIN is closed", async () => {
    const vm = await serve((req, res) => {
      res.writeHead(200, { "content-length": 100 });
      res.write("0123456789");
      setImmediate(() => req.socket.destroy());
    });
    const report = await runLoad({
      target: { host: HOST, port: vm.port },
      clients: 1,
      rate: 40,
      durationMs: 200,
    });
    onlyKind(report, "closed");
  });

  it("a malformed response is other, with the parser's message kept", async () => {
    const port = await serveRaw((socket) => socket.end("HELLO\r\n\r\n"));
    const report = await runLoad({ target: { host: HOST, port }, clients: 1, rate: 40, durationMs: 200 });
    onlyKind(report, "other");
    expect(report.errorSamples[0]?.message).toMatch(/HPE_/);
  });

  it("keeps only the first 50 samples", async () => {
    const port = await freePort(HOST);
    const report = await runLoad({ target: { host: HOST, port }, clients: 2, rate: 0, durationMs: 200 });
    expect(report.errors.refused).toBeGreaterThan(50);
    expect(report.errorSamples).toHaveLength(50);
  });
});
