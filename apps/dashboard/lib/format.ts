/** Formatting for people. Self-contained (no relative imports): unit-tested from test/dashboard. */

/** 850 ms, 12.3 s, 2 min 05 s, 1 h 02 min. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "–";
  const abs = Math.abs(ms);
  const sign = ms < 0 ? "-" : "";
  if (abs < 1_000) return `${sign}${Math.round(abs)} ms`;
  if (abs < 60_000) return `${sign}${(abs / 1_000).toFixed(abs < 10_000 ? 2 : 1)} s`;
  const totalSeconds = Math.round(abs / 1_000);
  if (totalSeconds < 3_600) {
    const m = Math.floor(totalSeconds / 60);
    const s = totalSeconds % 60;
    return `${sign}${m} min ${String(s).padStart(2, "0")} s`;
  }
  const totalMinutes = Math.round(totalSeconds / 60);
  const h = Math.floor(totalMinutes / 60);
  const m = totalMinutes % 60;
  return `${sign}${h} h ${String(m).padStart(2, "0")} min`;
}

/** A timestamp as local wall-clock time, with the date when it is not today. */
export function formatTime(iso: string | null | undefined, now: Date = new Date()): string {
  if (!iso) return "–";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const time = d.toLocaleTimeString(undefined, { hour12: false });
  return d.toDateString() === now.toDateString() ? time : `${d.toLocaleDateString()} ${time}`;
}

/** Requests per second and similar rates: whole numbers from 10 up, one decimal below. */
export function formatRate(n: number): string {
  if (!Number.isFinite(n)) return "–";
  return n >= 10 ? String(Math.round(n)) : n.toFixed(1);
}

/**
 * A chart axis count in at most four characters, the same in every locale: 950, 1k, 1.5k, 12k, 1.2M. A
 * locale's "1,000" (or "1.000") is wider than the axis and lost its first digit there.
 */
export function formatAxisCount(n: number): string {
  if (!Number.isFinite(n)) return "";
  const units = ["", "k", "M", "G"];
  const round = (v: number) => (v < 10 ? Math.round(v * 10) / 10 : Math.round(v));
  let value = Math.abs(n);
  let unit = 0;
  // Rounded, not raw: 999,999 is 1M, not "1000k".
  while (round(value) >= 1_000 && unit < units.length - 1) {
    value /= 1_000;
    unit++;
  }
  return `${n < 0 ? "-" : ""}${round(value)}${units[unit]}`;
}

/** A batch size or maxUnavailable as typed: "25%" stays a percentage, "2" becomes a count. */
export function parseCountOrPercent(text: string): number | string | undefined {
  const t = text.trim();
  if (t === "") return undefined;
  if (/^\d+$/.test(t)) return Number(t);
  return t;
}
