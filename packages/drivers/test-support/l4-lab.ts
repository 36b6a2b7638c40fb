import { connect, type Socket } from "node:net";
import type { Target } from "@ebb/core";
import { type DeepPartialConfig, L4Device } from "@ebb/l4";
import { type HttpUpstream, startHttpUpstream } from "./http-upstream.js";
import type { Teardown } from "./teardown.js";

export const LAB_HOST = "127.0.6.1";

export interface L4Lab {
  device: L4Device;
  upstreams: Record<string, HttpUpstream>;
  targets: Record<string, Target>;
}

/** A device on 127.0.6.1 (timeScale 0.01: 100 ms checks) in front of fake upstreams on 127.0.6.10+. */
export async function startL4Lab(
  teardown: Teardown,
  names: string[],
  opts: { config?: DeepPartialConfig; adminPort?: number } = {},
): Promise<L4Lab> {
  const upstreams: Record<string, HttpUpstream> = {};
  const targets: Record<string, Target> = {};
  for (const [i, name] of names.entries()) {
    const up = teardown.add(await startHttpUpstream(`127.0.6.${10 + i}`), (u) => u.close());
    upstreams[name] = up;
    targets[name] = { name, host: up.host, port: up.port, executor: "local", labels: { role: "web" } };
  }
  const device = await startDevice(teardown, upstreams, opts);
  return { device, upstreams, targets };
}

export async function startDevice(
  teardown: Teardown,
  upstreams: Record<string, HttpUpstream>,
  opts: { config?: DeepPartialConfig; adminPort?: number } = {},
): Promise<L4Device> {
  return teardown.add(
    await L4Device.start({
      config: {
        vip: { host: LAB_HOST, port: 0 },
        admin: { host: LAB_HOST, port: opts.adminPort ?? 0 },
        timeScale: 0.01,
        ...opts.config,
      },
      servers: Object.entries(upstreams).map(([name, up]) => ({ name, host: up.host, port: up.port })),
    }),
    (d) => d.stop(),
  );
}

/** A TCP connection to the VIP (a new session on the device), once connected. */
export function connectVip(device: L4Device): Promise<Socket> {
  const url = new URL(device.vipUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => resolve(socket));
    socket.once("error", reject);
  });
}
