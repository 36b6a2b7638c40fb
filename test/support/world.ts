import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { DeviceEvent } from "@ebb/l4";
import { startWorld, type World, type WorldOptions } from "@ebb/lab";
import { waitFor } from "@ebb/testkit";

/**
 * A lab world for cross-app scenarios: VMs on `127.0.<net>.11+` with a free port, the device's VIP and
 * admin on `127.0.<net>.1` (port 0), its timings scaled so a check interval is 200 ms.
 */
export async function givenLab(
  net: number,
  opts: Partial<WorldOptions> = {},
): Promise<World & { cleanup(): Promise<void> }> {
  const labDir = await mkdtemp(path.join(tmpdir(), "ebb-lab-"));
  const world = await startWorld({
    labDir,
    vms: 4,
    vmFirstHost: `127.0.${net}.11`,
    vmPort: 18080,
    timeScale: 0.02,
    vip: { host: `127.0.${net}.1`, port: 0 },
    admin: { host: `127.0.${net}.1`, port: 0 },
    ...opts,
    // A check timeout of 9 s scaled (180 ms, within the 200 ms interval) rather than 5 s (100 ms): on a busy
    // 2-core CI machine a healthy VM's answer can take 100 ms, and a flapping VM is not what these test.
    device: { ...opts.device, healthCheck: { timeoutSeconds: 9, ...opts.device?.healthCheck } },
  });
  await waitFor(() => world.device.servers().every((s) => s.bound), {
    timeoutMs: 10_000,
    what: "every lab VM bound",
  });
  return {
    ...world,
    async cleanup() {
      await world.stop();
      await rm(labDir, { recursive: true, force: true });
    },
  };
}

/** Resolves with the first device event that matches. */
export function nextEvent(
  world: World,
  match: (e: DeviceEvent) => boolean,
  timeoutMs = 10_000,
): Promise<DeviceEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no matching device event within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = world.device.onEvent((e) => {
      if (match(e)) {
        clearTimeout(timer);
        off();
        resolve(e);
      }
    });
  });
}

export function totalErrors(errors: Record<string, number>): number {
  return Object.values(errors).reduce((a, b) => a + b, 0);
}
