import { z } from "zod";

/**
 * The parts of the L4 device's admin API (packages/l4/README.md) the driver reads. Validated, because the
 * device is another process (in production, another box): a wrong admin URL or an incompatible firmware
 * must fail loudly, not turn into `undefined` states. Unknown fields are ignored.
 */
export const serverCountersSchema = z.object({
  sessionsActive: z.number().int().nonnegative(),
  sessionsOpened: z.number().int().nonnegative(),
  closedByRst: z.number().int().nonnegative(),
  resetByDevice: z.number().int().nonnegative(),
  resetOnReschedule: z.number().int().nonnegative(),
  refused: z.number().int().nonnegative().default(0),
  clientPackets: z.number().int().nonnegative().default(0),
});

export const serverViewSchema = z.object({
  name: z.string(),
  host: z.string(),
  port: z.number().int(),
  health: z.enum(["up", "suspect", "failed"]),
  adminState: z.enum(["enabled", "disabled"]),
  bound: z.boolean(),
  since: z.string(),
  counters: serverCountersSchema,
});
export type DeviceServerView = z.infer<typeof serverViewSchema>;
export type DeviceServerCounters = z.infer<typeof serverCountersSchema>;

export const serverListSchema = z.array(serverViewSchema);

export const deviceConfigSchema = z.object({
  healthCheck: z.object({
    mode: z.enum(["l7", "l4"]),
    intervalSeconds: z.number().positive(),
    retryCount: z.number().int().nonnegative(),
    timeoutSeconds: z.number().positive(),
  }),
  sessionIdleTimeoutSeconds: z.number().positive(),
  resetOnPortFail: z.boolean(),
  timeScale: z.number().positive(),
});
export type DeviceConfigView = z.infer<typeof deviceConfigSchema>;

export const deviceEventSchema = z.object({
  seq: z.number().int().positive(),
  type: z.string(),
  at: z.string(),
  atMs: z.number(),
  server: z.string().nullable().optional(),
  to: z.string().optional(),
});
export type DeviceEventView = z.infer<typeof deviceEventSchema>;

export const deviceEventListSchema = z.array(deviceEventSchema);

export const deviceErrorSchema = z.object({
  error: z.object({ code: z.string(), message: z.string() }),
});
