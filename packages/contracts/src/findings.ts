import { z } from "zod";

/**
 * `GET /api/v1/fleets/:name/findings` (and `ebb lint`): what the live workloads of a Kubernetes fleet would
 * do wrong on a termination no orchestrator drains. The rules are @ebb/core's `lintWorkload`; the rule ids
 * are listed there (kept as a plain string here: contracts stays free of core).
 */
export const workloadFindingSchema = z.object({
  severity: z.enum(["error", "warning"]),
  rule: z.string(),
  object: z.object({ kind: z.string(), namespace: z.string(), name: z.string() }),
  /** The field to change, as a path into the object. */
  field: z.string(),
  /** Durations in real ms, pod counts as counts. */
  numbers: z.record(z.string(), z.number()),
  message: z.string(),
  fix: z.string(),
  alsoPods: z.array(z.string()).optional(),
});
export type WorkloadFindingView = z.infer<typeof workloadFindingSchema>;

export const fleetFindingsSchema = z.object({
  fleet: z.string(),
  workload: z.object({ kind: z.string(), namespace: z.string(), name: z.string() }),
  /** When the objects were read. */
  checkedAt: z.string(),
  findings: z.array(workloadFindingSchema),
  /** Kinds that could not be read (RBAC, a cluster without the API): their rules did not run. */
  unread: z.array(z.object({ kind: z.string(), reason: z.string() })),
});
export type FleetFindingsView = z.infer<typeof fleetFindingsSchema>;
