import type { JsonObject, JsonValue } from "./chain.js";

export const REDACTED = "[redacted]";

/** Keys whose values never reach an audit row, at any depth. */
export const SECRET_KEY = /pass(word)?|secret|token|key|credential|kubeconfig|authorization|cookie/i;

/**
 * Values that are secrets whatever key they sit under: a PEM private key or certificate block, a
 * kubeconfig's credentials, an Ebb API token, a bearer credential, a URL with a password in it.
 */
const SECRET_VALUE: readonly RegExp[] = [
  /-----BEGIN/,
  /client-(key|certificate)-data\s*:/i,
  /^\s*apiVersion:[\s\S]*\bkind:\s*Config\b/m,
  /\bebb_[A-Za-z0-9]{8}_[A-Za-z0-9]{32}\b/,
  /\bBearer\s+\S{8,}/i,
  /[a-z][a-z0-9+.-]*:\/\/[^\s/@:]*:[^\s/@]+@/i,
  // Incoming-webhook URLs carry their credential in the path: whoever has one can post to the channel.
  /\bhooks\.slack\.com\/(services|workflows|triggers)\//i,
  /\b(discord|discordapp)\.com\/api\/webhooks\//i,
];

export function looksSecret(value: string): boolean {
  return SECRET_VALUE.some((pattern) => pattern.test(value));
}

/** Summaries stay a few KB: a 1 MB body is not what an auditor reads, and every row is hashed. */
export const MAX_SUMMARY_BYTES = 4096;
const MAX_STRING = 256;
const MAX_ITEMS = 20;
const MAX_KEYS = 40;
const MAX_DEPTH = 5;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Text as PostgreSQL stores it: no NUL (text and jsonb reject it) and no lone surrogate (jsonb rejects
 * the escape JSON.stringify writes for one), cut to `max` characters.
 */
export function cleanText(value: string, max = MAX_STRING): string {
  // Cut first: a cut can split a surrogate pair, and the replacement below mends that too.
  const text = value.length > max ? `${value.slice(0, max)}…[+${value.length - max} chars]` : value;
  return text.replaceAll("\u0000", "\uFFFD").replace(LONE_SURROGATE, "\uFFFD");
}

/** A column value: cleaned, cut, and dropped to "[redacted]" when it looks like a secret. */
export function safeText(value: string | undefined | null, max = MAX_STRING): string | null {
  if (value === undefined || value === null) return null;
  return looksSecret(value) ? REDACTED : cleanText(value, max);
}

/**
 * Any value (a request body, a caller's note) as JSON fit for an audit summary: secret keys and
 * secret-looking strings replaced by "[redacted]", strings, arrays, objects and nesting bounded.
 */
export function redact(value: unknown, depth = 0): JsonValue {
  if (value === null || value === undefined) return null;
  if (typeof value === "string") return looksSecret(value) ? REDACTED : cleanText(value);
  if (typeof value === "number") return Number.isFinite(value) ? value : null;
  if (typeof value === "boolean") return value;
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (typeof value !== "object") return null;
  if (depth >= MAX_DEPTH) return "[nested]";
  if (Array.isArray(value)) {
    const items = value.slice(0, MAX_ITEMS).map((item) => redact(item, depth + 1));
    if (value.length > MAX_ITEMS) items.push(`[+${value.length - MAX_ITEMS} more]`);
    return items;
  }
  if (Buffer.isBuffer(value) || ArrayBuffer.isView(value)) return `[${value.byteLength} bytes]`;
  const out: JsonObject = {};
  const entries = Object.entries(value as Record<string, unknown>);
  for (const [key, v] of entries.slice(0, MAX_KEYS)) {
    if (v === undefined) continue;
    const name = cleanText(key, 64);
    out[name] = SECRET_KEY.test(key)
      ? REDACTED
      : key === "params" && v !== null && typeof v === "object" && !Array.isArray(v)
        ? maskValues(v as Record<string, unknown>)
        : redact(v, depth + 1);
  }
  if (entries.length > MAX_KEYS) out["[more keys]"] = entries.length - MAX_KEYS;
  return out;
}

/**
 * Runbook parameters: which were given is worth keeping, their values are not. A runbook declares which
 * of its parameters are secret, and the audit of a request cannot know which runbook version will run.
 */
function maskValues(params: Record<string, unknown>): JsonObject {
  const out: JsonObject = {};
  for (const key of Object.keys(params).slice(0, MAX_KEYS)) out[cleanText(key, 64)] = REDACTED;
  return out;
}

/**
 * A summary for one audit row: redacted, and when still over MAX_SUMMARY_BYTES, the largest fields are
 * replaced by their size until it fits (the keys stay, so the row still says what was there).
 */
export function redactSummary(summary: Record<string, unknown>): JsonObject {
  const out = redact(summary) as JsonObject;
  let size = byteLength(out);
  if (size <= MAX_SUMMARY_BYTES) return out;
  const bySize = Object.entries(out)
    .map(([key, v]) => [key, byteLength(v)] as const)
    .sort((a, b) => b[1] - a[1]);
  for (const [key, bytes] of bySize) {
    if (size <= MAX_SUMMARY_BYTES) break;
    const marker = `[${bytes} bytes trimmed]`;
    out[key] = marker;
    size -= bytes - byteLength(marker);
  }
  return out;
}

function byteLength(value: JsonValue): number {
  return Buffer.byteLength(JSON.stringify(value), "utf8");
}
