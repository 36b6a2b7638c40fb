/** mulberry32: a small seeded generator, so a soak's gaps can be replayed from the seed it printed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * The pause before each rollout of a fleet (the first has none): a share of them back to back (0 ms, the
 * next rollout starts the moment the previous one finished, as in issue 17), the others uniform in
 * [0, maxGapMs]. Deterministic for a seed.
 */
export function gapSchedule(
  count: number,
  opts: { seed: number; maxGapMs: number; backToBackShare: number },
): number[] {
  const random = seededRandom(opts.seed);
  return Array.from({ length: count }, (_, i) => {
    const r = random();
    const gap = random();
    if (i === 0 || r < opts.backToBackShare) return 0;
    return Math.round(gap * opts.maxGapMs);
  });
}
