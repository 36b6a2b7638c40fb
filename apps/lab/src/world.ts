import { mkdir } from "node:fs/promises";
import path from "node:path";
import { type DeepPartialConfig, L4Device } from "@ebb/l4";
import { createVm, startVm, stopVm, type VmSpec, vmDir } from "./vm/index.js";

export interface WorldOptions {
  labDir: string;
  vms?: number;
  /** Address of the first VM; the next ones count up in the last octet (127.0.0.11, .12, ...). */
  vmFirstHost?: string;
  vmPort?: number;
  version?: string;
  timeScale?: number;
  vip?: { host: string; port: number };
  admin?: { host: string; port: number };
  /** Extra device config (health-check mode, resetOnPortFail, ...), merged over the lab's. */
  device?: DeepPartialConfig;
  /** Per-VM overrides, e.g. a short keep-alive timeout to reproduce domain.md section 2. */
  vm?: Partial<Omit<VmSpec, "name" | "host" | "port">>;
  log?: (line: string) => void;
}

export interface LabVm {
  name: string;
  host: string;
  port: number;
  dir: string;
  /** What the VM's web server was created with: registered as a fact for the idle-timeout preflight. */
  keepAliveTimeoutMs: number;
}

export interface World {
  device: L4Device;
  vms: LabVm[];
  labDir: string;
  stop(): Promise<void>;
}

export function nthHost(first: string, n: number): string {
  const parts = first.split(".").map(Number);
  const last = (parts[3] ?? 0) + n;
  if (parts.length !== 4 || last > 254) throw new Error(`cannot derive host ${n} from ${first}`);
  return [parts[0], parts[1], parts[2], last].join(".");
}

/**
 * Lab VM timings. The keep-alive timeout is nginx's default (75 s, scaled), so an idle connection is closed
 * by the VM (FIN, which the device passes on) long before the device's 600 s aging could forget its flow:
 * a connection that outlives its session entry is the one that gets RST when rescheduled (domain.md §1-2).
 * It never drops below 5 s, because a VM closing an idle connection just as a slow-paced test client
 * reuses it is the RFC 9112 §9.6 race, which would make tests flaky for reasons that are not the drain's.
 */
export function labVmTimings(timeScale: number): { keepAliveTimeoutMs: number; drainLingerMs: number } {
  return { keepAliveTimeoutMs: Math.max(5_000, Math.round(75_000 * timeScale)), drainLingerMs: 500 };
}

/** Starts N lab VMs and the L4 device in front of them; `stop()` drains nothing, it just stops all. */
export async function startWorld(opts: WorldOptions): Promise<World> {
  const count = opts.vms ?? 4;
  const timeScale = opts.timeScale ?? 0.1;
  const labDir = path.resolve(opts.labDir);
  await mkdir(labDir, { recursive: true });
  const vms: LabVm[] = [];
  for (let i = 0; i < count; i++) {
    const name = `vm${i + 1}`;
    const host = nthHost(opts.vmFirstHost ?? "127.0.0.11", i);
    const port = opts.vmPort ?? 8080;
    const timings = labVmTimings(timeScale);
    await createVm(labDir, { name, host, port, version: opts.version ?? "1.0.0", ...timings, ...opts.vm });
    const keepAliveTimeoutMs = opts.vm?.keepAliveTimeoutMs ?? timings.keepAliveTimeoutMs;
    vms.push({ name, host, port, dir: vmDir(labDir, name), keepAliveTimeoutMs });
  }
  const started: LabVm[] = [];
  let device: L4Device | undefined;
  try {
    for (const vm of vms) {
      await startVm(vm.dir);
      started.push(vm);
    }
    device = await L4Device.start({
      config: {
        timeScale,
        ...(opts.vip ? { vip: opts.vip } : {}),
        ...(opts.admin ? { admin: opts.admin } : {}),
        ...opts.device,
      },
      servers: vms.map((vm) => ({ name: vm.name, host: vm.host, port: vm.port })),
      ...(opts.log ? { log: opts.log } : {}),
    });
  } catch (err) {
    await Promise.allSettled(started.map((vm) => stopVm(vm.dir, { timeoutMs: 5_000 })));
    throw err;
  }
  const dev = device;
  return {
    device: dev,
    vms,
    labDir,
    async stop() {
      await dev.stop();
      await Promise.allSettled(vms.map((vm) => stopVm(vm.dir, { timeoutMs: 10_000 })));
    },
  };
}
