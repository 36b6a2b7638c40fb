import { z } from "zod";

const ms = z.number().int().min(0).max(86_400_000);

/**
 * What the drain hook (packages/drain-hook) reports about one pod termination that Ebb did not start: the
 * hook's own TerminationReport, checked here because it arrives from inside a cluster.
 */
export const terminationReportSchema = z.strictObject({
  pod: z.string().min(1).max(253),
  namespace: z.string().min(1).max(63),
  podIP: z.string().min(1).max(64),
  startedAt: z.iso.datetime(),
  releasedAt: z.iso.datetime(),
  reason: z.enum(["drained", "grace-limit"]),
  heldMs: ms,
  endpointOutAtMs: ms.nullable(),
  slices: z.array(z.string().max(320)).max(100),
  propagationMs: ms,
  holdMs: ms,
  limitMs: ms,
  newConnections: z.number().int().min(0),
  lateConnections: z.number().int().min(0),
  lastNewConnectionAtMs: ms.nullable(),
  openConnectionsAtRelease: z.number().int().min(0),
  apiErrors: z.number().int().min(0),
});
export type TerminationReportBody = z.output<typeof terminationReportSchema>;

/** The audit action a report is kept under (the fleet page lists them with the rest of the history). */
export const TERMINATION_ACTION = "pod.termination";
