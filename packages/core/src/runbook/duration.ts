import { EbbError } from "../errors.js";

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;
type Unit = keyof typeof UNIT_MS;

const PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/y;
/** Nothing in a rollout legitimately waits a week; a larger value is a typo (e.g. "2000h"). */
const MAX_MS = 7 * 24 * UNIT_MS.h;

/**
 * "300ms", "1.5s", "2m", "1h", or a sum such as "1m30s" -> milliseconds (rounded to an integer).
 * A bare number is refused: "30" could mean seconds or milliseconds, and guessing wrong turns a
 * 30-second deadline into 30 ms.
 */
export function parseDuration(text: string): number {
  const input = text.trim();
  if (input === "") throw invalid(text, "is empty");
  if (/^\d+(\.\d+)?$/.test(input)) throw invalid(text, `has no unit (write "${input}s" or "${input}ms")`);
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < input.length) {
    const start = PART.lastIndex;
    const match = PART.exec(input);
    if (match === null) {
      throw invalid(text, `cannot be read at "${input.slice(start)}" (use ms, s, m or h, e.g. "30s")`);
    }
    total += Number(match[1]) * UNIT_MS[match[2] as Unit];
  }
  const ms = Math.round(total);
  if (ms > MAX_MS) throw invalid(text, "is longer than 7 days");
  return ms;
}

/** Milliseconds -> the shortest readable form ("1m30s", "250ms"); used in messages. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms < 1_000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${Number((ms / 1_000).toFixed(1))}s`;
  const h = Math.floor(ms / UNIT_MS.h);
  const m = Math.floor((ms % UNIT_MS.h) / UNIT_MS.m);
  const s = Math.round((ms % UNIT_MS.m) / 1_000);
  return `${h > 0 ? `${h}h` : ""}${m > 0 ? `${m}m` : ""}${s > 0 ? `${s}s` : ""}` || "0s";
}

function invalid(text: string, why: string): EbbError {
  return new EbbError("duration_invalid", `duration ${JSON.stringify(text)} ${why}`, { details: { text } });
}
