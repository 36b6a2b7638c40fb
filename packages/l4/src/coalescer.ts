/**
 * Turns bursts into few events: the first occurrence is reported at once, later ones within `windowMs`
 * are summed per key and reported when the window ends.
 */
export class Coalescer<K> {
  private readonly pending = new Map<K, number>();
  private timer: NodeJS.Timeout | undefined;
  private lastFlush = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly windowMs: number,
    private readonly report: (key: K, count: number) => void,
  ) {}

  add(key: K, count = 1): void {
    this.pending.set(key, (this.pending.get(key) ?? 0) + count);
    if (this.timer) return;
    const wait = this.lastFlush + this.windowMs - Date.now();
    if (wait <= 0) {
      this.flush();
    } else {
      this.timer = setTimeout(() => this.flush(), wait);
      this.timer.unref();
    }
  }

  /** Reports what is pending now (used on stop, so no count is lost). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.lastFlush = Date.now();
    const entries = [...this.pending];
    this.pending.clear();
    for (const [key, count] of entries) this.report(key, count);
  }
}
