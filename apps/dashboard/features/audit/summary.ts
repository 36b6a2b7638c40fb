/**
 * An audit event's summary as short `key: value` lines for the table, rather than one long JSON blob: nested
 * objects flattened to dotted keys, long values cut (the export has them whole). Self-contained (no relative
 * imports): unit-tested from test/dashboard.
 */

export interface SummaryLine {
  key: string;
  value: string;
  /** The whole value, when `value` was cut. */
  full?: string;
}

const MAX_VALUE = 60;
const MAX_DEPTH = 3;

export function summaryLines(summary: Record<string, unknown>, maxValue: number = MAX_VALUE): SummaryLine[] {
  const out: SummaryLine[] = [];
  const visit = (prefix: string, value: unknown, depth: number) => {
    if (value !== null && typeof value === "object" && !Array.isArray(value) && depth < MAX_DEPTH) {
      const entries = Object.entries(value as Record<string, unknown>);
      if (entries.length === 0) return;
      for (const [k, v] of entries) visit(prefix ? `${prefix}.${k}` : k, v, depth + 1);
      return;
    }
    const text =
      typeof value === "string"
        ? value
        : Array.isArray(value) && value.every((v) => typeof v !== "object" || v === null)
          ? value.join(", ")
          : JSON.stringify(value);
    out.push(
      text.length > maxValue
        ? { key: prefix, value: `${text.slice(0, maxValue - 1)}…`, full: text }
        : { key: prefix, value: text },
    );
  };
  visit("", summary, 0);
  return out;
}
