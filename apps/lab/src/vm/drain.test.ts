import { type ChildProcess, spawn } from "node:child_process";
import { readFile, rm } from "node:fs/promises";
import http from "node:http";
import net, { type AddressInfo, type Socket } from "node:net";
import path from "node:path";
import { freePort, waitFor } from "@ebb/testkit";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { buildLab, KeepAliveClient, tempLabDir } from "../../test-support/vm.js";
import { createVm, serverPath } from "./index.js";
import { canConnect, getJson } from "./probe.js";

const HOST = "127.0.3.12";
const LINGER_MS = 300;
/** An idle client's connection in a drain (drainIdleMs): longer than a hop's stall below, shorter than 3 s. */
const IDLE_MS = 1_200;

interface Vm {
  dir: string;
  port: number;
  child: ChildProcess;
  exited: Promise<number | null>;
  log: () => string;
}

describe("graceful stop of a VM under keep-alive traffic", () => {
  let labDir: string | undefined;
  let vm: Vm | undefined;
  const clients: KeepAliveClient[] = [];
  const client = () => {
    const c = new KeepAliveClient(HOST, vm!.port);
    clients.push(c);
    return c;
  };

  // Spawned directly (not through ebb-vm) so the test sees the server's own exit code.
  async function startServer(spec: { drainIdleMs?: number } = { drainIdleMs: IDLE_MS }): Promise<Vm> {
    labDir = await tempLabDir();
    const port = await freePort(HOST);
    const dir = await createVm(labDir, {
      name: "vm1",
      host: HOST,
      port,
      drainLingerMs: LINGER_MS,
      stopDeadlineMs: 5_000,
      ...spec,
    });
    const child = spawn(process.execPath, [serverPath(), "--dir", dir], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let log = "";
    child.stdout?.on("data", (c: Buffer) => {
      log += c.toString();
    });
    child.stderr?.on("data", (c: Buffer) => {
      log += c.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    await waitFor(() => canConnect(HOST, port), { timeoutMs: 5_000, what: "the VM to listen" });
    return { dir, port, child, exited, log: () => log };
  }

  beforeAll(() => buildLab());

  afterEach(async () => {
    for (const c of clients.splice(0)) c.stop();
    if (vm && vm.child.exitCode === null && vm.child.signalCode === null) vm.child.kill("SIGKILL");
    vm = undefined;
    if (labDir) await rm(labDir, { recursive: true, force: true });
  });

  it("drains busy and idle keep-alive clients with Connection: close and FIN, no errors, clean exit", async () => {
    vm = await startServer();
    const busy = Array.from({ length: 4 }, () => client());
    const idle = Array.from({ length: 2 }, () => client());
    const probe = client();
    for (const c of [...idle, probe]) expect((await c.get("/")).connection).toBe("keep-alive");
    const loops = busy.map((c, i) => c.loop(i % 2 ? "/" : "/slow?ms=3"));
    await waitFor(() => busy.every((c) => c.requests >= 5), {
      timeoutMs: 5_000,
      what: "busy clients running",
    });

    const signalledAt = Date.now();
    vm.child.kill("SIGTERM");

    // The next request on an idle keep-alive connection is answered normally, with Connection: close.
    const drainingAnswer = await waitFor(
      async () => {
        const a = await probe.get("/status");
        return (JSON.parse(a.body) as { draining: boolean }).draining ? a : null;
      },
      { timeoutMs: 2_000, what: "the VM to report draining" },
    );
    expect(drainingAnswer).toMatchObject({ status: 200, connection: "close" });

    await Promise.all(loops);
    await waitFor(() => idle.every((c) => c.finAt !== null), {
      timeoutMs: 3_000,
      what: "FIN on idle clients",
    });
    expect(await vm.exited).toBe(0);

    for (const c of clients) {
      expect(c.errors).toEqual([]);
      expect(c.sawCloseOrFin).toBe(true);
    }
    for (const c of busy) expect(c.sawConnectionClose).toBe(true);
    // Idle connections are not cut at SIGTERM (Node's http.Server#close would): a client's gets drainIdleMs.
    for (const c of idle) expect(c.finAt! - signalledAt).toBeGreaterThanOrEqual(IDLE_MS * 0.9);
    expect(vm.log()).toContain("closing idle keep-alive connection with FIN");

    const lastExit = JSON.parse(await readFile(path.join(vm.dir, "last-exit.json"), "utf8")) as unknown;
    expect(lastExit).toMatchObject({ clean: true, signal: "SIGTERM", droppedRequests: 0, droppedJobs: [] });
    await expect(readFile(path.join(vm.dir, "vm.pid"))).rejects.toThrow(/ENOENT/);
  });

  // Issue 17: a busy client's next request held back on its way (a proxy's event loop busy with other work,
  // the client's GC pause) for longer than a short linger used to cross the server's FIN: "socket hang up"
  // on every connection the hop held, all at once. The client's connection now stays open for most of the
  // stop budget, and the held request is answered with Connection: close.
  it("answers a busy client whose requests a stalled hop held back longer than the linger", async () => {
    vm = await startServer({});
    const relay = await startRelay(HOST, vm.port);
    try {
      const busy = Array.from({ length: 4 }, () => {
        const c = new KeepAliveClient(relay.host, relay.port);
        clients.push(c);
        return c;
      });
      const loops = busy.map((c) => c.loop("/"));
      await waitFor(() => busy.every((c) => c.requests >= 5), { timeoutMs: 5_000, what: "busy clients" });
      // The hop stops moving bytes (both ways) as the stop begins, for twice the monitoring linger.
      relay.hold(LINGER_MS * 2 + 200);
      vm.child.kill("SIGTERM");
      await Promise.all(loops);
      expect(busy.flatMap((c) => c.errors)).toEqual([]);
      for (const c of busy) expect(c.sawConnectionClose).toBe(true);
      expect(await vm.exited).toBe(0);
    } finally {
      relay.close();
    }
  });

  // The same stall against a server told to close a client's idle connection as soon as the linger: the
  // clients see "socket hang up", and the server, which received those requests after its FIN, counts them
  // and does not call its stop clean, so `ebb-vm stop` (a runbook's stop step) fails instead of passing.
  it("counts the requests that crossed its FIN and does not call that stop clean", async () => {
    vm = await startServer({ drainIdleMs: LINGER_MS });
    const relay = await startRelay(HOST, vm.port);
    try {
      const busy = Array.from({ length: 4 }, () => {
        const c = new KeepAliveClient(relay.host, relay.port);
        clients.push(c);
        return c;
      });
      const loops = busy.map((c) => c.loop("/"));
      await waitFor(() => busy.every((c) => c.requests >= 5), { timeoutMs: 5_000, what: "busy clients" });
      relay.hold(LINGER_MS * 2 + 200);
      vm.child.kill("SIGTERM");
      await Promise.all(loops);
      const errors = busy.flatMap((c) => c.errors);
      expect(errors.length).toBeGreaterThan(0);
      expect(errors.join("\n")).toContain("socket hang up");
      expect(await vm.exited).toBe(1);
      const lastExit = JSON.parse(await readFile(path.join(vm.dir, "last-exit.json"), "utf8")) as {
        clean: boolean;
        droppedRequests: number;
      };
      expect(lastExit.clean).toBe(false);
      expect(lastExit.droppedRequests).toBeGreaterThan(0);
      expect(vm.log()).toContain("request arrived after we closed its idle connection (FIN)");
    } finally {
      relay.close();
    }
  });

  it("answers a request in flight at SIGTERM with 200 and Connection: close", async () => {
    vm = await startServer();
    const c = client();
    const slow = c.get("/slow?ms=800");
    await waitFor(
      async () =>
        ((await getJson(HOST, vm!.port, "/status")) as { inFlightRequests: number }).inFlightRequests >= 2,
      { timeoutMs: 2_000, what: "the /slow request to be in flight" },
    );
    vm.child.kill("SIGTERM");
    await expect(slow).resolves.toMatchObject({ status: 200, connection: "close" });
    expect(await vm.exited).toBe(0);
    expect(c.errors).toEqual([]);
    expect(JSON.parse(await readFile(path.join(vm.dir, "last-exit.json"), "utf8"))).toMatchObject({
      clean: true,
    });
  });

  it("survives clients that reset mid-request or send garbage, and still stops cleanly", async () => {
    vm = await startServer();
    const port = vm.port;
    const raw = (payload: string) =>
      new Promise<string>((resolve) => {
        const sock = net.connect({ host: HOST, port }, () => sock.write(payload));
        let got = "";
        sock.on("data", (c: Buffer) => {
          got += c.toString();
        });
        sock.on("close", () => resolve(got));
        sock.on("error", () => resolve(got));
      });
    const resetter = net.connect({ host: HOST, port }, () =>
      resetter.write(`GET /slow?ms=200 HTTP/1.1\r\nHost: x\r\n\r\n`),
    );
    await waitFor(
      async () =>
        ((await getJson(HOST, port, "/status")) as { inFlightRequests: number }).inFlightRequests >= 2,
      { timeoutMs: 2_000, what: "the /slow request to be in flight" },
    );
    resetter.resetAndDestroy();
    expect(await raw("HELLO\r\n\r\n")).toMatch(/^HTTP\/1\.1 400/);
    await waitFor(
      async () =>
        ((await getJson(HOST, port, "/status")) as { inFlightRequests: number }).inFlightRequests === 1,
      { timeoutMs: 2_000, what: "the reset request to be forgotten" },
    );
    vm.child.kill("SIGTERM");
    expect(await vm.exited).toBe(0);
    expect(vm.log()).toContain('"msg":"client error"');
  });
});

/**
 * A TCP relay in front of the VM that can stop moving bytes for a while, both ways, as a proxy whose event
 * loop is busy does: what arrives meanwhile waits in the kernel's buffers, FIN included.
 */
async function startRelay(host: string, port: number) {
  const pairs: Socket[] = [];
  // Half-open both ways, as the service proxy: a FIN travels on its own and bytes still flow the other way.
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    const upstream = net.connect({ host, port, allowHalfOpen: true });
    pairs.push(client, upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.3.1", r));
  return {
    host: "127.0.3.1",
    port: (server.address() as AddressInfo).port,
    hold(ms: number) {
      for (const s of pairs) s.pause();
      setTimeout(() => {
        for (const s of pairs) if (!s.destroyed) s.resume();
      }, ms);
    },
    close() {
      for (const s of pairs) s.destroy();
      server.close();
    },
  };
}

// The proofs that the harness above can go red: a server that stops the naive way, and a reset.
describe("KeepAliveClient detects what a careless stop does", () => {
  let server: http.Server | undefined;
  const clients: KeepAliveClient[] = [];

  afterEach(async () => {
    for (const c of clients.splice(0)) c.stop();
    server?.closeAllConnections();
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
    server = undefined;
  });

  async function listen(s: http.Server): Promise<number> {
    server = s;
    await new Promise<void>((r) => s.listen(0, HOST, r));
    return (s.address() as AddressInfo).port;
  }

  it("sees errors when a server closes all connections with requests in flight", async () => {
    let n = 0;
    const s = http.createServer((_req, res) => {
      // The stop happens while this very request (and likely others) is being answered.
      if (++n === 40) {
        s.close();
        s.closeAllConnections();
        return;
      }
      setTimeout(() => res.end("ok"), 2);
    });
    const port = await listen(s);
    const busy = Array.from({ length: 4 }, () => new KeepAliveClient(HOST, port));
    clients.push(...busy);
    await Promise.all(busy.map((c) => c.loop("/")));
    const errors = busy.flatMap((c) => c.errors);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.join("\n")).toMatch(/socket hang up|ECONNRESET|ECONNREFUSED/);
  });

  it("sees a reset on an idle pooled keep-alive connection", async () => {
    const sockets: Socket[] = [];
    const s = http.createServer((_req, res) => res.end("ok"));
    s.on("connection", (sock: Socket) => sockets.push(sock));
    const port = await listen(s);
    const c = new KeepAliveClient(HOST, port);
    clients.push(c);
    expect((await c.get("/")).connection).toBe("keep-alive");
    for (const sock of sockets) sock.resetAndDestroy();
    await waitFor(() => c.errors.length > 0, { timeoutMs: 2_000, what: "the client to record the reset" });
    expect(c.errors.join("\n")).toContain("ECONNRESET");
    expect(c.finAt).toBeNull();
  });
});
