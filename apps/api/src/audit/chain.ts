import { createHash } from "node:crypto";
import type { AuditActorKind, AuditOutcome } from "@ebb/contracts";

/** prev_hash of the first event. */
export const GENESIS_HASH = "0".repeat(64);

/** Plain JSON: what a jsonb column gives back. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** Every column of an audit event but `hash`, as it is hashed: id as a decimal string, `at` as ISO (ms). */
export interface ChainedFields {
  id: string;
  at: string;
  actorKind: AuditActorKind;
  actorId: string;
  actorName: string;
  action: string;
  resourceType: string | null;
  resourceId: string | null;
  fleet: string | null;
  summary: JsonObject;
  outcome: AuditOutcome;
  httpStatus: number | null;
  clientIp: string | null;
  userAgent: string | null;
  requestId: string | null;
  prevHash: string;
}

/**
 * JSON with object keys sorted (by code unit) at every level and no whitespace. jsonb keeps neither the
 * key order nor the spacing of what was inserted, so the hash must not depend on them.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") {
    if (typeof value === "number" && !Number.isFinite(value)) return "null";
    if (value === undefined) return "null";
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
}

/** sha256(prev_hash + "\n" + canonicalJson(all fields but hash)), hex. */
export function chainHash(fields: ChainedFields): string {
  return createHash("sha256")
    .update(`${fields.prevHash}\n${canonicalJson(fields)}`, "utf8")
    .digest("hex");
}
