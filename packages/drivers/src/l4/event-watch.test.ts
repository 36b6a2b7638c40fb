import type { L4Device } from "@ebb/l4";
import { freePort, waitFor } from "@ebb/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { startCutProxy } from "../../test-support/cut-proxy.js";
import { LAB_HOST, startDevice, startL4Lab } from "../../test-support/l4-lab.js";
import { Teardown } from "../../test-support/teardown.js";
import { L4Balancer } from "./balancer.js";
import { type L4WatchEvent, WATCH_RESYNC } from "./event-watch.js";

const teardown = new Teardown();
afterEach(() => teardown.run());

function watchAll(adminUrl: string): { events: L4WatchEvent[]; stop: () => void } {
  const balancer = new L4Balancer({
    adminUrl,
    requestTimeoutMs: 2000,
    watch: { initialBackoffMs: 20, maxBackoffMs: 200 },
  });
  const events: L4WatchEvent[] = [];
  const stop = teardown.add(
    balancer.watch((e) => events.push(e)),
    (s) => s(),
  );
  return { events, stop };
}

/**
 * The first connection streams live events only, so the test pokes the device (a harmless config
 * change) until one arrives: from then on the watch is connected and knows the device's position.
 */
async function untilStreaming(device: L4Device, events: L4WatchEvent[]): Promise<void> {
  let aging = 120;
  await waitFor(
    () => {
      if (events.some((e) => e.type === "config.changed")) return true;
      device.updateConfig({ sessionIdleTimeoutSeconds: ++aging });
      return false;
    },
    { what: "the watch to stream" },
  );
}

const of = (events: L4WatchEvent[], server: string, type: string) =>
  events.filter((e) => e.server === server && e.type === type);

describe("L4Balancer.watch", () => {
  it("delivers the device's health events as they happen", async () => {
    const { device, upstreams } = await startL4Lab(teardown, ["vm1"]);
    await waitFor(() => device.server("vm1")?.bound, { what: "vm1 bound" });
    const { events } = watchAll(device.adminUrl);
    await untilStreaming(device, events);

    upstreams.vm1!.healthStatus = 404;
    await waitFor(() => of(events, "vm1", "server.health").some((e) => e.to === "failed"), {
      what: "a failed event",
    });
    expect(of(events, "vm1", "server.health").map((e) => e.to)).toEqual(["suspect", "failed"]);
    const failed = of(events, "vm1", "server.health")[1]!;
    expect(Number.isNaN(Date.parse(failed.at))).toBe(false);
    expect(events.some((e) => e.type === WATCH_RESYNC)).toBe(false);
  });

  it("after the stream is cut, resumes with Last-Event-ID: what happened meanwhile arrives once", async () => {
    const { device } = await startL4Lab(teardown, ["vm1"]);
    await waitFor(() => device.server("vm1")?.bound, { what: "vm1 bound" });
    const proxy = teardown.add(
      await startCutProxy(LAB_HOST, { host: LAB_HOST, port: Number(new URL(device.adminUrl).port) }),
      (p) => p.close(),
    );
    const { events } = watchAll(proxy.url);
    await untilStreaming(device, events);

    proxy.cut();
    device.setAdminState("vm1", "disabled");
    device.setAdminState("vm1", "enabled");
    proxy.restore();
    await waitFor(() => of(events, "vm1", "server.admin").length >= 2, { what: "the admin events" });
    // Live again: a later change arrives too.
    device.setAdminState("vm1", "disabled");
    await waitFor(() => of(events, "vm1", "server.admin").length >= 3, { what: "a live admin event" });
    expect(of(events, "vm1", "server.admin").map((e) => e.to)).toEqual(["disabled", "enabled", "disabled"]);
    expect(events.some((e) => e.type === WATCH_RESYNC)).toBe(false);
  });

  it("after the device restarts, reports a resync and streams the new device's events", async () => {
    const adminPort = await freePort(LAB_HOST);
    const { device, upstreams } = await startL4Lab(teardown, ["vm1"], { adminPort });
    await waitFor(() => device.server("vm1")?.bound, { what: "vm1 bound" });
    const { events } = watchAll(device.adminUrl);
    await untilStreaming(device, events);
    const before = events.length;

    await device.stop();
    const again = await startDevice(teardown, upstreams, { adminPort });
    // The new device starts vm1 failed and binds it on the first passing check.
    await waitFor(() => events.slice(before).some((e) => e.type === WATCH_RESYNC), { what: "a resync" });
    await waitFor(() => of(events.slice(before), "vm1", "server.health").some((e) => e.to === "up"), {
      what: "vm1 up on the new device",
    });
    again.setAdminState("vm1", "disabled");
    await waitFor(() => of(events.slice(before), "vm1", "server.admin").some((e) => e.to === "disabled"), {
      what: "a live event from the new device",
    });
  });

  it("unsubscribing closes the stream", async () => {
    const { device } = await startL4Lab(teardown, ["vm1"]);
    const proxy = teardown.add(
      await startCutProxy(LAB_HOST, { host: LAB_HOST, port: Number(new URL(device.adminUrl).port) }),
      (p) => p.close(),
    );
    const { events, stop } = watchAll(proxy.url);
    await untilStreaming(device, events);
    expect(proxy.connections()).toBe(1);
    stop();
    await waitFor(() => proxy.connections() === 0, { what: "the stream closed", timeoutMs: 2000 });
  });
});
