/**
 * Delay before the n-th reconnect (n from 0) of a live stream: 1 s doubling to 30 s, with up to 20 %
 * jitter so dashboards that lost the API together do not all come back in the same second.
 * Self-contained: unit-tested from test/dashboard.
 */
export function reconnectDelayMs(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(30_000, 1_000 * 2 ** Math.max(0, Math.min(attempt, 10)));
  return Math.round(base * (1 + 0.2 * random()));
}
