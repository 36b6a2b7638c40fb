import type { Prisma, PrismaClient } from "../generated/prisma/client.js";

export interface LabFleetSpec {
  /** `lab` in the defaults table. */
  name: string;
  /** The emulated device's admin API. */
  adminUrl: string;
  vipUrl: string;
  /** Where the lab VMs live; `ebb-vm` finds a VM there by its target name. */
  labDir: string;
  /** PATH for the targets' commands: the repo's node_modules/.bin (ebb-vm) and node itself. */
  path: string;
  targets: { name: string; host: string; port: number; facts?: Record<string, unknown> }[];
  /** More environment for every command on the targets. */
  env?: Record<string, string>;
}

/**
 * Registers (or updates) the lab fleet: the VMs behind the emulated L4 device, driven by the local
 * executor through `ebb-vm`, as a production fleet is driven through ssh and systemctl.
 */
export async function registerLabFleet(prisma: PrismaClient, spec: LabFleetSpec): Promise<string> {
  const balancerConfig = { adminUrl: spec.adminUrl, vipUrl: spec.vipUrl };
  const fleet = await prisma.fleet.upsert({
    where: { name: spec.name },
    create: { name: spec.name, balancer: "l4", balancerConfig },
    update: { balancer: "l4", balancerConfig },
  });
  const executorConfig = { env: { ...spec.env, EBB_LAB_DIR: spec.labDir, PATH: spec.path } };
  for (const t of spec.targets) {
    const data = {
      host: t.host,
      port: t.port,
      executor: "local",
      executorConfig,
      facts: (t.facts ?? {}) as Prisma.InputJsonValue,
    };
    await prisma.target.upsert({
      where: { fleetId_name: { fleetId: fleet.id, name: t.name } },
      create: { fleetId: fleet.id, name: t.name, ...data },
      update: data,
    });
  }
  return fleet.id;
}
