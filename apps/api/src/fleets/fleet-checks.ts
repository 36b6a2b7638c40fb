import type { createFleetBodySchema, TargetBody, targetBodySchema } from "@ebb/contracts";
import { EbbError } from "@ebb/core";
import { localExecutorConfigSchema, sshExecutorConfigSchema } from "@ebb/drivers";
import type { DriverRegistry, FleetRecord } from "@ebb/engine";
import type { z } from "zod";
import { RequestValidationError, toFieldIssues } from "../common/validation.js";
import type { Prisma } from "../generated/prisma/client.js";

export type FleetBody = z.output<typeof createFleetBodySchema>;

/** A whole fleet before it is stored: its balancer config, each target's executor config, unique names. */
export function checkFleet(drivers: Pick<DriverRegistry, "balancer">, body: FleetBody): void {
  checkBalancer(drivers, body.name, body.balancer, body.balancerConfig);
  const names = new Set<string>();
  for (const [i, t] of body.targets.entries()) {
    checkExecutor(t, `targets.${i}`);
    if (names.has(t.name))
      throw new RequestValidationError([
        { path: `targets.${i}.name`, message: `duplicate target "${t.name}"` },
      ]);
    names.add(t.name);
  }
}

/** Builds the balancer once: its own config validation names the bad field. */
export function checkBalancer(
  drivers: Pick<DriverRegistry, "balancer">,
  name: string,
  balancer: string,
  balancerConfig: unknown,
): void {
  const record: FleetRecord = { id: `check:${name}`, name, balancer, balancerConfig };
  try {
    drivers.balancer(record);
  } catch (err) {
    if (err instanceof EbbError && err.code === "param_invalid") {
      const details = Array.isArray(err.details) ? (err.details as { field: string; message: string }[]) : [];
      throw new RequestValidationError(
        details.length > 0
          ? details.map((d) => ({ path: d.field, message: d.message }))
          : [{ path: "balancerConfig", message: err.message }],
      );
    }
    throw err;
  }
}

export function checkExecutor(target: { executor: string; executorConfig: unknown }, prefix: string): void {
  const schema = target.executor === "ssh" ? sshExecutorConfigSchema : localExecutorConfigSchema;
  const parsed = schema.safeParse(target.executorConfig);
  if (!parsed.success) {
    const at = prefix ? `${prefix}.executorConfig` : "executorConfig";
    throw new RequestValidationError(
      toFieldIssues(parsed.error.issues).map((i) => ({
        path: i.path ? `${at}.${i.path}` : at,
        message: i.message,
      })),
    );
  }
}

export function targetData(t: z.output<typeof targetBodySchema> | (TargetBody & { executor: string })) {
  return {
    name: t.name,
    host: t.host,
    port: t.port,
    executor: t.executor ?? "local",
    executorConfig: (t.executorConfig ?? {}) as Prisma.InputJsonValue,
    labels: (t.labels ?? {}) as Prisma.InputJsonValue,
    facts: (t.facts ?? {}) as Prisma.InputJsonValue,
  };
}
