import { EbbError } from "@ebb/core";
import { z } from "zod";
import { parseRuntimeAddress } from "./runtime-api.js";

const positiveMs = z.number().int().positive();

/** HAProxy's defaults (configuration.txt 5.2): inter 2s, fall 3, rise 2. */
export const HAPROXY_DEFAULT_TIMING = { interMs: 2000, fall: 3, rise: 2 } as const;

/** A fleet's balancerConfig when its balancer is `haproxy`. */
export const haproxyConfigSchema = z.strictObject({
  /** The stats socket: `/run/haproxy/admin.sock` or `ipv4@127.0.0.1:9999`, declared `level admin`. */
  socket: z.string().min(1),
  /** The backend whose servers are the fleet's targets. */
  backend: z.string().regex(/^[A-Za-z0-9_.:-]+$/, "must be an HAProxy backend name"),
  /** Target name -> server name in the backend, where they differ. Default: the target's own name. */
  servers: z
    .record(z.string(), z.string().regex(/^[A-Za-z0-9_.:-]+$/, "must be an HAProxy server name"))
    .optional(),
  /** The VIP clients use, for http.check `via: vip`. */
  vipUrl: z.url().optional(),
  /** The Prometheus that scrapes the targets, for analysis steps with `source: prometheus`. */
  prometheusUrl: z.url().optional(),
  /**
   * What the fleet's operator declared in haproxy.cfg. HAProxy reports rise and fall itself (and they win);
   * it does not report `inter`, so that comes from here until a drain observes it.
   */
  timing: z
    .strictObject({
      interMs: positiveMs.optional(),
      fall: z.number().int().min(1).optional(),
      rise: z.number().int().min(1).optional(),
      /** `timeout check` (default: inter). */
      checkTimeoutMs: positiveMs.optional(),
      /** TCP mode: `timeout client`/`server`, how long an idle relayed connection lives. */
      idleTimeoutMs: positiveMs.optional(),
      /** `option httpchk` (l7, the default) or a plain TCP check (l4). */
      check: z.enum(["l7", "l4"]).optional(),
    })
    .optional(),
  /** Per Runtime API command. Default 3000 ms. */
  commandTimeoutMs: positiveMs.optional(),
  /** How old a `show stat` may be before a reader asks again (one per tick for every target). Default 200 ms. */
  pollIntervalMs: positiveMs.optional(),
});
export type HaproxyConfig = z.infer<typeof haproxyConfigSchema>;

/** Validates a stored balancerConfig; errors are EbbError `param_invalid` naming `balancerConfig.<field>`. */
export function parseHaproxyConfig(config: unknown, fleetName?: string): HaproxyConfig {
  const prefix = fleetName === undefined ? "" : `fleet ${fleetName}: `;
  const parsed = haproxyConfigSchema.safeParse(config);
  if (!parsed.success) {
    const details = parsed.error.issues.map((issue) => {
      const path = issue.code === "unrecognized_keys" ? [...issue.path, issue.keys.join(",")] : issue.path;
      return { field: ["balancerConfig", ...path.map(String)].join("."), message: issue.message };
    });
    throw new EbbError(
      "param_invalid",
      `${prefix}invalid haproxy balancerConfig: ${details.map((d) => `${d.field}: ${d.message}`).join("; ")}`,
      { details },
    );
  }
  try {
    parseRuntimeAddress(parsed.data.socket);
  } catch (err) {
    if (err instanceof EbbError)
      throw new EbbError(err.code, `${prefix}${err.message}`, { details: err.details });
    throw err;
  }
  return parsed.data;
}
