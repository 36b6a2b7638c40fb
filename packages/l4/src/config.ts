import { z } from "zod";
import { ConfigError, type ConfigIssue } from "./errors.js";

const endpointSchema = z.strictObject({
  host: z.string().min(1),
  port: z.number().int().min(0).max(65535),
});

const healthCheckSchema = z
  .strictObject({
    mode: z.enum(["l7", "l4"]).default("l7"),
    path: z.string().startsWith("/", "must start with /").max(1024).default("/health_check.html"),
    expectStatus: z.number().int().min(100).max(599).default(200),
    intervalSeconds: z.number().positive().max(3600).default(10),
    retryCount: z.number().int().min(0).max(10).default(1),
    timeoutSeconds: z.number().positive().max(3600).default(5),
  })
  // A check that may outlive its interval would overlap the next one; the vendor refuses it too.
  .refine((hc) => hc.timeoutSeconds < hc.intervalSeconds, {
    path: ["timeoutSeconds"],
    message: "must be less than intervalSeconds",
    // Only compare two valid numbers; an invalid interval is reported once, on its own field.
    when: (payload) => payload.issues.length === 0,
  });

/** Device configuration with the vendor's defaults. Durations are vendor seconds, multiplied by `timeScale`. */
export const deviceConfigSchema = z.strictObject({
  vip: endpointSchema.prefault({ host: "127.0.0.1", port: 8080 }),
  admin: endpointSchema.prefault({ host: "127.0.0.1", port: 8081 }),
  scheduler: z.enum(["roundRobin", "leastConnections", "sourceHash"]).default("roundRobin"),
  healthCheck: healthCheckSchema.prefault({}),
  // The vendor's "aging time" range.
  sessionIdleTimeoutSeconds: z.number().min(120).max(3600).default(600),
  resetOnPortFail: z.boolean().default(false),
  maxSessions: z.number().int().min(1).max(10_000_000).default(65536),
  timeScale: z.number().positive().max(100).default(1),
});

export type DeviceConfig = z.infer<typeof deviceConfigSchema>;
export type HealthCheckConfig = DeviceConfig["healthCheck"];
export type SchedulerName = DeviceConfig["scheduler"];

export type DeepPartialConfig = {
  [K in keyof DeviceConfig]?: DeviceConfig[K] extends object ? Partial<DeviceConfig[K]> : DeviceConfig[K];
};

/** Fields fixed once the device listens: they name its sockets and its clock. */
export const READ_ONLY_FIELDS = ["vip", "admin", "timeScale"] as const;

export const defaultDeviceConfig: Readonly<DeviceConfig> = deepFreeze(deviceConfigSchema.parse({}));

/** Zod issues as `{field, message}`, with an unknown key named by its own path rather than its parent's. */
export function toConfigIssues(error: z.ZodError, prefix: readonly PropertyKey[] = []): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const issue of error.issues) {
    const base = [...prefix, ...issue.path];
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) out.push({ field: dotted([...base, key]), message: "unknown field" });
    } else {
      out.push({ field: dotted(base), message: issue.message });
    }
  }
  return out;
}

/** Validates a whole config given as a deep-partial over the defaults. */
export function parseDeviceConfig(input: unknown): DeviceConfig {
  return applyConfigPatch(defaultDeviceConfig, input, { allowReadOnly: true });
}

/**
 * Merges a deep-partial patch over `current` and validates the result; unknown fields, wrong types and
 * (unless allowed) changes to read-only fields are reported together.
 */
export function applyConfigPatch(
  current: DeviceConfig,
  patch: unknown,
  { allowReadOnly = false }: { allowReadOnly?: boolean } = {},
): DeviceConfig {
  if (!isPlainObject(patch)) throw new ConfigError([{ field: "", message: "expected a JSON object" }]);
  const merged = deepMerge(current, patch);
  const result = deviceConfigSchema.safeParse(merged);
  const issues = result.success ? [] : toConfigIssues(result.error);
  if (!allowReadOnly && result.success) {
    for (const field of READ_ONLY_FIELDS) {
      if (field in patch && !sameJson(result.data[field], current[field])) {
        issues.push({ field, message: "read-only after start" });
      }
    }
  }
  if (issues.length > 0 || !result.success) throw new ConfigError(issues);
  // Frozen, because `device.config` hands out the live object; an update replaces it whole.
  return deepFreeze(result.data);
}

/** Dotted paths of the leaves that differ between two configs. */
export function changedFields(before: DeviceConfig, after: DeviceConfig): string[] {
  const out: string[] = [];
  const walk = (a: unknown, b: unknown, path: string): void => {
    if (isPlainObject(a) && isPlainObject(b)) {
      for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
        walk(a[key], b[key], path ? `${path}.${key}` : key);
      }
    } else if (a !== b) {
      out.push(path);
    }
  };
  walk(before, after, "");
  return out;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function deepMerge(base: unknown, patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = isPlainObject(base) ? { ...base } : {};
  for (const [key, value] of Object.entries(patch)) {
    const prev = out[key];
    out[key] = isPlainObject(value) && isPlainObject(prev) ? deepMerge(prev, value) : value;
  }
  return out;
}

function dotted(path: readonly PropertyKey[]): string {
  return path.map((p) => String(p)).join(".");
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function deepFreeze<T>(value: T): T {
  if (isPlainObject(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
