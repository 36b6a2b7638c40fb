import { spawnSync } from "node:child_process";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { type HaproxyProcess, startHaproxyProcess } from "@ebb/drivers";
import { createVm, startVm, stopVm, vmDir } from "./vm/index.js";
import { type LabVm, labVmTimings, nthHost } from "./world.js";

/** The L4 device's factory timing (domain.md §1), the HAProxy lab is scaled from the same numbers. */
const DEVICE_INTERVAL_S = 10;
const DEVICE_RETRY = 1;
const DEVICE_TIMEOUT_S = 5;
const DEVICE_AGING_S = 600;

export interface HaproxyWorldOptions {
  /** The lab folder; HAProxy's config, socket and VMs go to `<labDir>/haproxy/`. */
  labDir: string;
  vms?: number;
  vmFirstHost?: string;
  vmPort?: number;
  version?: string;
  timeScale?: number;
  vip?: { host: string; port: number };
  /** `tcp` (the lab's default, like the L4 device) or `http`. */
  mode?: "tcp" | "http";
  /** Override the scaled check timing (real ms). */
  check?: { interMs?: number; fall?: number; rise?: number; timeoutMs?: number };
  /** HAProxy's binary (default: `haproxy` on PATH). */
  bin?: string;
  log?: (line: string) => void;
}

export interface HaproxyWorld {
  haproxy: HaproxyProcess;
  vms: LabVm[];
  /** Where the VMs live (`ebb-vm` finds them here by name). */
  labDir: string;
  vipUrl: string;
  socketPath: string;
  backend: string;
  mode: "tcp" | "http";
  timing: { interMs: number; fall: number; rise: number; checkTimeoutMs: number; idleTimeoutMs: number };
  stop(): Promise<void>;
}

/** Whether an `haproxy` binary can be run (the lab starts HAProxy only then). */
export function haproxyAvailable(bin = "haproxy"): boolean {
  const r = spawnSync(bin, ["-v"], { stdio: "ignore" });
  return r.error === undefined && r.status === 0;
}

export const HAPROXY_INSTALL_HINT =
  "haproxy is not installed: the lab-haproxy fleet is left out (Debian/Ubuntu: sudo apt-get install -y haproxy)";

/**
 * A real HAProxy in TCP mode with an L7 check of /health_check.html, in front of its own lab VMs. Its
 * timing is the L4 device's, scaled the same way: check every 10 s, unbound at the second failure
 * (fall 2 = retry 1), bound again at the first success (rise 1), idle connections kept for the 600 s
 * aging time.
 */
export async function startHaproxyWorld(opts: HaproxyWorldOptions): Promise<HaproxyWorld> {
  const scale = opts.timeScale ?? 0.1;
  const labDir = path.resolve(opts.labDir, "haproxy");
  await mkdir(labDir, { recursive: true });
  const port = opts.vmPort ?? 8080;
  const vms: LabVm[] = [];
  for (let i = 0; i < (opts.vms ?? 4); i++) {
    const name = `vm${i + 1}`;
    const host = nthHost(opts.vmFirstHost ?? "127.0.0.31", i);
    const timings = labVmTimings(scale);
    await createVm(labDir, { name, host, port, version: opts.version ?? "1.0.0", ...timings });
    vms.push({ name, host, port, dir: vmDir(labDir, name), keepAliveTimeoutMs: timings.keepAliveTimeoutMs });
  }
  const timing = {
    interMs: opts.check?.interMs ?? Math.round(DEVICE_INTERVAL_S * 1000 * scale),
    fall: opts.check?.fall ?? DEVICE_RETRY + 1,
    rise: opts.check?.rise ?? 1,
    checkTimeoutMs: opts.check?.timeoutMs ?? Math.round(DEVICE_TIMEOUT_S * 1000 * scale),
    idleTimeoutMs: Math.round(DEVICE_AGING_S * 1000 * scale),
  };
  const vip = opts.vip ?? { host: "127.0.0.1", port: 8082 };
  const mode = opts.mode ?? "tcp";
  const started: LabVm[] = [];
  let haproxy: HaproxyProcess;
  try {
    for (const vm of vms) {
      await startVm(vm.dir);
      started.push(vm);
    }
    haproxy = await startHaproxyProcess(
      {
        dir: labDir,
        mode,
        vip,
        backend: "lab",
        servers: vms.map((vm) => ({ name: vm.name, host: vm.host, port: vm.port })),
        interMs: timing.interMs,
        fall: timing.fall,
        rise: timing.rise,
        checkTimeoutMs: timing.checkTimeoutMs,
        idleTimeoutMs: timing.idleTimeoutMs,
      },
      opts.bin ? { bin: opts.bin } : {},
    );
  } catch (err) {
    await Promise.allSettled(started.map((vm) => stopVm(vm.dir, { timeoutMs: 5_000 })));
    throw err;
  }
  opts.log?.(`HAProxy ${mode} on ${vip.host}:${vip.port}, runtime socket ${haproxy.socketPath}`);
  const proc = haproxy;
  return {
    haproxy: proc,
    vms,
    labDir,
    vipUrl: `http://${vip.host}:${vip.port}`,
    socketPath: proc.socketPath,
    backend: "lab",
    mode,
    timing,
    async stop() {
      await proc.stop();
      await Promise.allSettled(vms.map((vm) => stopVm(vm.dir, { timeoutMs: 10_000 })));
    },
  };
}

/** The balancerConfig of the `lab-haproxy` fleet (see @ebb/drivers parseHaproxyConfig). */
export function haproxyBalancerConfig(world: HaproxyWorld): Record<string, unknown> {
  return {
    socket: world.socketPath,
    backend: world.backend,
    vipUrl: world.vipUrl,
    timing: {
      interMs: world.timing.interMs,
      fall: world.timing.fall,
      rise: world.timing.rise,
      checkTimeoutMs: world.timing.checkTimeoutMs,
      idleTimeoutMs: world.timing.idleTimeoutMs,
      check: "l7",
    },
  };
}
