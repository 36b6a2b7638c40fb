import { request } from "node:http";
import { waitFor } from "@ebb/testkit";
import { type DeepPartialConfig, L4Device, type RealServerSpec } from "../src/index.js";
import { RawClient } from "./raw-client.js";
import { type HttpUpstream, startHttpUpstream } from "./upstreams.js";

export const VIP_HOST = "127.0.2.1";

/** A device on 127.0.2.1 (ephemeral ports) whose check interval is 100 ms and aging 1.2 s. */
export function startTestDevice(
  config: DeepPartialConfig = {},
  servers: RealServerSpec[] = [],
): Promise<L4Device> {
  return L4Device.start({
    config: {
      vip: { host: VIP_HOST, port: 0 },
      admin: { host: VIP_HOST, port: 0 },
      timeScale: 0.01,
      sessionIdleTimeoutSeconds: 120,
      ...config,
    },
    servers,
  });
}

export function vipAddress(device: L4Device): { host: string; port: number } {
  const url = new URL(device.vipUrl);
  return { host: url.hostname, port: Number(url.port) };
}

/** One request on a new connection (a new flow); resolves with the answering server's name. */
export function freshRequest(device: L4Device, path = "/", localAddress?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${device.vipUrl}${path}`,
      { agent: false, headers: { connection: "close" }, ...(localAddress ? { localAddress } : {}) },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          body += c;
        });
        res.on("end", () => resolve((JSON.parse(body) as { server: string }).server));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** Runs registered teardown steps in reverse order (afterEach). */
export class Teardown {
  private steps: (() => unknown)[] = [];

  add<T>(value: T, step: (value: T) => unknown): T {
    this.steps.push(() => step(value));
    return value;
  }

  async run(): Promise<void> {
    const steps = this.steps.reverse();
    this.steps = [];
    for (const step of steps) {
      try {
        await step();
      } catch {
        // Teardown is best effort; the test itself reports what went wrong.
      }
    }
  }
}

export interface HttpLab {
  d: L4Device;
  ups: Record<string, HttpUpstream>;
}

/**
 * Fake HTTP upstreams on 127.0.2.10, .11, ... (named as given, so their answers name the device's server),
 * behind a test device; resolves once every server is bound.
 */
export async function givenHttpLab(
  teardown: Teardown,
  servers: (string | { name: string; weight: number })[],
  config: DeepPartialConfig = {},
): Promise<HttpLab> {
  const ups: Record<string, HttpUpstream> = {};
  const specs: RealServerSpec[] = [];
  for (const [i, s] of servers.entries()) {
    const { name, weight } = typeof s === "string" ? { name: s, weight: 1 } : s;
    const up = teardown.add(await startHttpUpstream(`127.0.2.${10 + i}`, name), (u) => u.close());
    ups[name] = up;
    specs.push({ name, host: up.host, port: up.port, weight });
  }
  const d = teardown.add(await startTestDevice(config, specs), (x) => x.stop());
  await waitFor(() => d.servers().every((s) => s.bound), { what: "all servers bound" });
  return { d, ups };
}

/** A connected raw client to the VIP, destroyed at teardown. */
export async function connectClient(teardown: Teardown, d: L4Device): Promise<RawClient> {
  return teardown.add(await RawClient.connect(vipAddress(d)), (c) => c.destroy());
}

/** The server name a fake upstream put in its answer. */
export function serverOf(reply: { body: string }): string {
  return (JSON.parse(reply.body) as { server: string }).server;
}
