import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { HaproxyBalancer, type HaproxyProcess, startHaproxyProcess } from "@ebb/drivers";
import { type HaproxyWorld, haproxyBalancerConfig, startHaproxyWorld } from "@ebb/lab";
import { freePort, waitFor } from "@ebb/testkit";

/** Scenarios through a real HAProxy (Debian's 2.6): its lab world, and more HAProxy nodes in front of it. */

export type HaproxyLab = HaproxyWorld & { cleanup(): Promise<void> };

export interface HaproxyCheck {
  interMs?: number;
  fall?: number;
  rise?: number;
  timeoutMs?: number;
}

/**
 * HAProxy in front of `vms` lab VMs on `127.0.<net>.31+` (VIP `127.0.<net>.1`), checks every 200 ms
 * (fall 2, rise 1) unless `check` says otherwise; resolved once HAProxy reports every VM UP.
 */
export async function givenHaproxy(
  net: number,
  mode: "tcp" | "http",
  opts: { vms?: number; check?: HaproxyCheck } = {},
): Promise<HaproxyLab> {
  const labDir = await mkdtemp(path.join(tmpdir(), "ebb-haproxy-lab-"));
  const w = await startHaproxyWorld({
    labDir,
    ...(opts.vms === undefined ? {} : { vms: opts.vms }),
    vmFirstHost: `127.0.${net}.31`,
    vmPort: await freePort(`127.0.${net}.31`),
    vip: { host: `127.0.${net}.1`, port: await freePort(`127.0.${net}.1`) },
    mode,
    timeScale: 0.02,
    // 180 ms rather than 100 ms: on a busy 2-core machine a healthy VM's answer can take 100 ms.
    check: { timeoutMs: 180, ...opts.check },
  });
  try {
    await untilAllUp(w.socketPath, w.backend, w.vms);
  } catch (err) {
    await w.stop();
    throw err;
  }
  return {
    ...w,
    async cleanup() {
      await w.stop();
      await rm(labDir, { recursive: true, force: true });
    },
  };
}

/** A second HAProxy node in front of the same VMs: its own VIP (`127.0.<net>.2`), socket and check timing. */
export interface HaproxyNode {
  process: HaproxyProcess;
  vipUrl: string;
  /** This node's balancerConfig, as a fleet (or a fleet's member) declares it. */
  balancerConfig: Record<string, unknown>;
  stop(): Promise<void>;
}

export async function givenSecondHaproxy(
  world: HaproxyWorld,
  net: number,
  check: Required<HaproxyCheck>,
): Promise<HaproxyNode> {
  const dir = path.join(world.labDir, "second");
  await mkdir(dir, { recursive: true });
  const vip = { host: `127.0.${net}.2`, port: await freePort(`127.0.${net}.2`) };
  const proc = await startHaproxyProcess({
    dir,
    mode: world.mode,
    vip,
    backend: world.backend,
    servers: world.vms.map((vm) => ({ name: vm.name, host: vm.host, port: vm.port })),
    interMs: check.interMs,
    fall: check.fall,
    rise: check.rise,
    checkTimeoutMs: check.timeoutMs,
    idleTimeoutMs: world.timing.idleTimeoutMs,
  });
  try {
    await untilAllUp(proc.socketPath, world.backend, world.vms);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  const vipUrl = `http://${vip.host}:${vip.port}`;
  return {
    process: proc,
    vipUrl,
    balancerConfig: {
      socket: proc.socketPath,
      backend: world.backend,
      vipUrl,
      timing: {
        interMs: check.interMs,
        fall: check.fall,
        rise: check.rise,
        checkTimeoutMs: check.timeoutMs,
        idleTimeoutMs: world.timing.idleTimeoutMs,
        check: "l7",
      },
    },
    stop: () => proc.stop(),
  };
}

/** The lab world's own balancerConfig (the `lab-haproxy` fleet's). */
export { haproxyBalancerConfig };

/** Waits until HAProxy (the lab's, or the node at `socket`) reports every VM UP. */
export function untilAllUpIn(world: HaproxyWorld, socket = world.socketPath): Promise<void> {
  return untilAllUp(socket, world.backend, world.vms);
}

async function untilAllUp(
  socket: string,
  backend: string,
  vms: readonly { name: string; host: string; port: number }[],
): Promise<void> {
  const balancer = new HaproxyBalancer({ config: { socket, backend } });
  const targets = vms.map((vm) => ({
    name: vm.name,
    host: vm.host,
    port: vm.port,
    executor: "local" as const,
    labels: {},
  }));
  await waitFor(async () => (await balancer.snapshot(targets)).every((s) => s.state === "up"), {
    what: `every VM UP in HAProxy (${socket})`,
  });
}
