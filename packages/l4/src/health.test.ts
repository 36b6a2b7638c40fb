import { once } from "node:events";
import { createServer, type Socket } from "node:net";
import { waitFor } from "@ebb/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { startTestDevice, Teardown } from "../test-support/device.js";
import { startHttpUpstream } from "../test-support/upstreams.js";
import type { L4Device } from "./device.js";
import { nextHealth } from "./health-state.js";
import { detectionWindowMs } from "./timing.js";
import type { DeviceEvent } from "./types.js";

const teardown = new Teardown();
afterEach(() => teardown.run());

function healthEvents(d: L4Device, server: string): Extract<DeviceEvent, { type: "server.health" }>[] {
  return d.events().flatMap((e) => (e.type === "server.health" && e.server === server ? [e] : []));
}

describe("health-check state machine", () => {
  it("up -> suspect on the first failure, failed after retryCount more, up again on one pass", () => {
    let s = nextHealth({ health: "up", failStreak: 0 }, false, 2);
    expect(s.health).toBe("suspect");
    s = nextHealth(s, false, 2);
    expect(s.health).toBe("suspect");
    s = nextHealth(s, false, 2);
    expect(s.health).toBe("failed");
    expect(nextHealth(s, true, 2).health).toBe("up");
    expect(nextHealth({ health: "up", failStreak: 0 }, false, 0).health).toBe("failed");
    expect(nextHealth({ health: "suspect", failStreak: 0 }, true, 1)).toEqual({
      health: "up",
      failStreak: 0,
    });
  });
});

describe("L7 health check", () => {
  it("a 404 makes the server suspect, then failed within the detection window; the first 200 re-binds it", async () => {
    const up = teardown.add(await startHttpUpstream("127.0.2.10", "a"), (u) => u.close());
    // 0.02: a 200 ms interval, so timer latency on a busy machine stays small next to the window.
    const d = teardown.add(
      await startTestDevice({ timeScale: 0.02 }, [{ name: "a", host: up.host, port: up.port }]),
      (x) => x.stop(),
    );
    await waitFor(() => d.server("a")?.bound, { what: "a bound" });
    expect(healthEvents(d, "a").map((e) => [e.from, e.to, e.reason])).toEqual([
      ["failed", "up", "status 200"],
    ]);

    // Flip right after a passing check, so the first failing check is a whole interval away.
    let flippedAt = 0;
    up.onHealthCheck = () => {
      up.onHealthCheck = undefined;
      up.healthStatus = 404;
      flippedAt = Date.now();
    };
    const failedBefore = d.counters().totals.checksFailed;
    await waitFor(() => d.server("a")?.health === "failed", { what: "a failed" });
    const events = healthEvents(d, "a").slice(1);
    expect(events.map((e) => [e.from, e.to, e.reason])).toEqual([
      ["up", "suspect", "status 404"],
      ["suspect", "failed", "status 404"],
    ]);
    // retryCount 1: exactly one more failed check after the one that made it suspect.
    expect(d.counters().totals.checksFailed - failedBefore).toBe(2);
    const { minMs, maxMs } = detectionWindowMs(d.config);
    expect(minMs).toBe(200);
    expect(maxMs).toBe(500);
    const detection = events[1]!.atMs - flippedAt;
    expect(detection).toBeGreaterThan(minMs);
    expect(detection).toBeLessThanOrEqual(maxMs);
    const view = d.server("a")!;
    expect(view.bound).toBe(false);
    expect(view.lastCheck).toMatchObject({ ok: false, detail: "status 404" });

    // The first 200 binds it again, straight from failed.
    up.healthStatus = 200;
    const restoredAt = Date.now();
    await waitFor(() => d.server("a")?.bound, { what: "a bound again" });
    const back = healthEvents(d, "a").at(-1)!;
    expect([back.from, back.to, back.reason]).toEqual(["failed", "up", "status 200"]);
    expect(back.atMs - restoredAt).toBeLessThanOrEqual(200 + 100);
  });

  it("with retryCount 0 the first failure fails the server, without a suspect step", async () => {
    const up = teardown.add(await startHttpUpstream("127.0.2.10", "a"), (u) => u.close());
    const d = teardown.add(
      await startTestDevice({ healthCheck: { retryCount: 0 } }, [
        { name: "a", host: up.host, port: up.port },
      ]),
      (x) => x.stop(),
    );
    await waitFor(() => d.server("a")?.bound, { what: "a bound" });
    up.healthStatus = 503;
    await waitFor(() => d.server("a")?.health === "failed", { what: "a failed" });
    expect(healthEvents(d, "a").map((e) => e.to)).toEqual(["up", "failed"]);
    expect(d.server("a")!.counters.checksFailed).toBe(1);
  });

  it("honours the configured path and expected status", async () => {
    const up = teardown.add(await startHttpUpstream("127.0.2.10", "a"), (u) => u.close());
    const d = teardown.add(
      await startTestDevice({ healthCheck: { path: "/elsewhere", expectStatus: 200 } }, [
        { name: "a", host: up.host, port: up.port },
      ]),
      (x) => x.stop(),
    );
    // The fake answers 200 { server } on any other path, so /elsewhere passes.
    await waitFor(() => d.server("a")?.bound, { what: "a bound" });
    d.updateConfig({ healthCheck: { expectStatus: 204 } });
    await waitFor(() => d.server("a")?.health === "failed", { what: "a failed on 200 != 204" });
    expect(d.server("a")!.reason).toBe("status 200");
  });

  it("a check that hangs times out, and checks never overlap", async () => {
    const open = new Set<Socket>();
    let maxConcurrent = 0;
    const hang = createServer((s) => {
      open.add(s);
      maxConcurrent = Math.max(maxConcurrent, open.size);
      s.on("error", () => {});
      s.on("close", () => open.delete(s));
      // Read (and ignore) the request, or the device's FIN would go unnoticed.
      s.resume();
    });
    hang.listen(0, "127.0.2.10");
    await once(hang, "listening");
    teardown.add(hang, (h) => {
      for (const s of open) s.destroy();
      h.close();
    });
    const port = (hang.address() as { port: number }).port;
    const d = teardown.add(
      await startTestDevice({ healthCheck: { intervalSeconds: 10, timeoutSeconds: 8 } }, [
        { name: "h", host: "127.0.2.10", port },
      ]),
      (x) => x.stop(),
    );
    await waitFor(() => (d.server("h")?.counters.checksFailed ?? 0) >= 4, { what: "four timed-out checks" });
    expect(d.server("h")!.lastCheck).toMatchObject({ ok: false, detail: "timeout" });
    expect(d.server("h")!.lastCheck!.durationMs).toBeGreaterThanOrEqual(75);
    expect(maxConcurrent).toBe(1);

    // Stopping cancels the check in flight: the device's socket goes away.
    await waitFor(() => open.size === 1, { what: "a check in flight" });
    await d.stop();
    await waitFor(() => open.size === 0, { what: "in-flight check cancelled" });
  });

  it("a changed interval reschedules the next check", async () => {
    const up = teardown.add(await startHttpUpstream("127.0.2.10", "a"), (u) => u.close());
    // 300 s scaled is 3 s: without rescheduling, the second check would come long after the wait below.
    const d = teardown.add(
      await startTestDevice({ healthCheck: { intervalSeconds: 300 } }, [
        { name: "a", host: up.host, port: up.port },
      ]),
      (x) => x.stop(),
    );
    await waitFor(() => d.server("a")?.counters.checksPassed === 1, { what: "first check" });
    d.updateConfig({ healthCheck: { intervalSeconds: 10 } });
    await waitFor(() => (d.server("a")?.counters.checksPassed ?? 0) >= 3, {
      timeoutMs: 1500,
      what: "checks at 100 ms",
    });
  });
});

describe("unreachable servers", () => {
  it("a server whose host cannot be reached or even written fails its checks without harming the device", async () => {
    const d = teardown.add(
      await startTestDevice({}, [
        { name: "bad", host: "bad\nhost", port: 80 },
        { name: "nxdomain", host: "does-not-exist.invalid", port: 80 },
      ]),
      (x) => x.stop(),
    );
    await waitFor(() => d.servers().every((s) => s.counters.checksFailed >= 2), { what: "failed checks" });
    expect(d.servers().map((s) => [s.name, s.health, s.lastCheck?.ok])).toEqual([
      ["bad", "failed", false],
      ["nxdomain", "failed", false],
    ]);
    expect((await fetch(`${d.adminUrl}/healthz`)).status).toBe(200);
  });
});

describe("L4 health check", () => {
  it("a closed port fails the server (ECONNREFUSED); reopening it binds it again", async () => {
    const up = teardown.add(await startHttpUpstream("127.0.2.10", "a"), (u) => u.close());
    const port = up.port;
    const d = teardown.add(
      await startTestDevice({ healthCheck: { mode: "l4" } }, [{ name: "a", host: up.host, port }]),
      (x) => x.stop(),
    );
    await waitFor(() => d.server("a")?.bound, { what: "a bound" });
    expect(d.server("a")!.lastCheck).toMatchObject({ ok: true, detail: "connected" });
    // The L4 check never asks for the health-check page.
    up.healthStatus = 404;
    await waitFor(() => (d.server("a")?.counters.checksPassed ?? 0) >= 3, {
      what: "l4 checks pass on a 404 page",
    });

    await up.close();
    await waitFor(() => d.server("a")?.health === "failed", { what: "a failed" });
    expect(healthEvents(d, "a").map((e) => [e.to, e.reason])).toEqual([
      ["up", "connected"],
      ["suspect", "ECONNREFUSED"],
      ["failed", "ECONNREFUSED"],
    ]);

    teardown.add(await listenOn("127.0.2.10", port), (l) => l.close());
    await waitFor(() => d.server("a")?.bound, { what: "a bound again" });
  });
});

/** A bare listener on a given port (the fake upstreams take port 0). */
async function listenOn(host: string, port: number): Promise<{ close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on("error", () => {});
    s.on("close", () => sockets.delete(s));
    s.resume();
  });
  server.listen(port, host);
  await once(server, "listening");
  return {
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        for (const s of sockets) s.destroy();
      }),
  };
}
