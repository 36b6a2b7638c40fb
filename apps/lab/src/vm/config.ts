import { readFile } from "node:fs/promises";
import { z } from "zod";
import { VM_NAME_RE, vmPaths } from "./layout.js";

const faultsSchema = z.strictObject({
  /** Ignore SIGTERM: a target that hangs on stop. Read from vm.json at each signal: armed or cleared live. */
  hangOnStop: z.boolean().optional(),
  /** `ebb-vm deploy` fails. */
  failDeploy: z.boolean().optional(),
  /** The health check always answers 503. */
  neverHealthy: z.boolean().optional(),
});

// Node timers overflow above 2^31-1 ms (and then fire at once).
const ms = () => z.int().nonnegative().max(2_147_483_647);

export const vmConfigSchema = z
  .strictObject({
    name: z.string().regex(VM_NAME_RE, `expected a name matching ${VM_NAME_RE.source}`),
    host: z.string().min(1),
    port: z.int().min(1).max(65535),
    // nginx's 75 s, below the device's 600 s session aging (domain.md §2): the VM closes an idle connection
    // with a FIN the device sees before the device could forget the flow and send its next packet elsewhere.
    keepAliveTimeoutMs: ms().positive().default(75_000),
    // Connections that only carried monitoring (kubelet probes, scrapes): FIN after this idle time in a drain.
    drainLingerMs: ms().default(1_000),
    // Connections that carried a client's traffic: FIN after this idle time in a drain. A hop (a proxy, the
    // client's own event loop, a GC pause) may hold the client's next request back while the server's
    // timer runs, and a FIN that crosses a request is a failed request for a client that does not retry
    // (issue 17). Default: as late as the stop deadline allows, and never later than the keep-alive timeout
    // would have closed it anyway.
    drainIdleMs: ms().optional(),
    stopDeadlineMs: ms().positive().default(30_000),
    headersTimeoutMs: ms().positive().optional(),
    faults: faultsSchema.optional(),
  })
  // An idle connection would otherwise still be lingering when the deadline drops it: every stop unclean.
  .refine((c) => c.drainLingerMs < c.stopDeadlineMs, {
    path: ["drainLingerMs"],
    message: "must be below stopDeadlineMs",
  })
  .refine((c) => c.drainIdleMs === undefined || c.drainIdleMs < c.stopDeadlineMs, {
    path: ["drainIdleMs"],
    message: "must be below stopDeadlineMs",
  });

/**
 * How long a traffic connection may stay idle in a drain: `drainIdleMs`, else the stop deadline less a
 * margin for the exit itself (a fifth of it, at most 1 s), capped by the keep-alive timeout; never below
 * the monitoring linger.
 */
export function drainIdleMs(c: VmConfig): number {
  if (c.drainIdleMs !== undefined) return c.drainIdleMs;
  const budget = c.stopDeadlineMs - Math.min(1_000, Math.floor(c.stopDeadlineMs / 5));
  return Math.max(c.drainLingerMs, Math.min(c.keepAliveTimeoutMs, budget));
}

/** vm.json as written (defaults optional). */
export type VmConfigInput = z.input<typeof vmConfigSchema>;
/** vm.json after validation, defaults filled in. */
export type VmConfig = z.output<typeof vmConfigSchema>;
export type VmFaults = z.infer<typeof faultsSchema>;

export class VmConfigError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "VmConfigError";
  }
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const field = issue.path.map(String).join(".");
  if (issue.code === "unrecognized_keys") {
    const keys = issue.keys.map((k) => (field ? `${field}.${k}` : k));
    return `unknown field ${keys.map((k) => JSON.stringify(k)).join(", ")}`;
  }
  return `${field || "(root)"}: ${issue.message}`;
}

/** Validates a vm.json object; the error names every bad field. */
export function parseVmConfig(value: unknown, source = "vm.json"): VmConfig {
  const parsed = vmConfigSchema.safeParse(value);
  if (!parsed.success) {
    const detail = parsed.error.issues.map(describeIssue).join("; ");
    throw new VmConfigError(`invalid ${source}: ${detail}`, { cause: parsed.error });
  }
  return parsed.data;
}

export async function readVmConfig(dir: string): Promise<VmConfig> {
  const file = vmPaths(dir).config;
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new VmConfigError(`cannot read ${file}: no VM there?`, { cause: err });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new VmConfigError(`invalid ${file}: not JSON (${(err as Error).message})`, { cause: err });
  }
  return parseVmConfig(value, file);
}
