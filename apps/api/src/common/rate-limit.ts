/**
 * A sliding window per key, in this process: enough to stop a runaway CI loop from creating hundreds of
 * rollouts (each leases targets and starts draining), or a reader from walking the whole audit chain in a
 * loop. For rollouts only what was really created counts, so a client retrying with its Idempotency-Key is
 * never limited. Several API processes each allow the limit.
 */
export class RateLimiter {
  private readonly hits = new Map<string, number[]>();

  constructor(
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Undefined when another hit is allowed now, else how many ms until it would be. */
  check(key: string, limit: number): number | undefined {
    const recent = this.recent(key);
    return recent.length < limit ? undefined : recent[0]! + this.windowMs - this.now();
  }

  record(key: string): void {
    this.recent(key).push(this.now());
  }

  private recent(key: string): number[] {
    const since = this.now() - this.windowMs;
    const recent = (this.hits.get(key) ?? []).filter((t) => t > since);
    this.hits.set(key, recent);
    return recent;
  }
}
