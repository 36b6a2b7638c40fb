import { performance } from "node:perf_hooks";

const TICK_MS = 20;

let users = 0;
let ticker: NodeJS.Timeout | undefined;
let last = 0;
let stalledMs = 0;

function tick(): void {
  const now = performance.now();
  // A tick that comes more than one period late means the event loop could not run meanwhile.
  const late = now - last - TICK_MS;
  if (late > TICK_MS) stalledMs += late;
  last = now;
}

/**
 * The time this process was able to run (ms): wall time minus its event loop's stalls, as a 20 ms ticker
 * sees them. Request deadlines count in it. The generator usually shares its process with what it
 * measures through (a test's service proxy, its emulated cluster, an in-process Ebb): a GC pause or a busy
 * moment there of two seconds fired every 2 s deadline at once, after the stall, before the poll phase
 * could read the responses that had arrived, and blamed the target for the generator's own process.
 * Timers run in due order, so after a stall the ticker (due within 20 ms) has counted it before a
 * request's deadline timer looks.
 */
export function awakeNow(): number {
  return performance.now() - stalledMs;
}

/** Starts the ticker for one more user; the returned function stops it once the last user is done. */
export function useAwakeClock(): () => void {
  if (users++ === 0) {
    last = performance.now();
    ticker = setInterval(tick, TICK_MS);
    ticker.unref();
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--users === 0) clearInterval(ticker);
  };
}
