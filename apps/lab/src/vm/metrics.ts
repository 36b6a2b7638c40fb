/**
 * The lab VM's `/metrics` in the Prometheus text format: traffic requests by status code and their latency
 * as a histogram, cumulative since the process started (a scraper takes its own deltas). Ebb's `analysis`
 * step reads it directly (`source: counters`), and a real Prometheus scrapes it (`source: prometheus`).
 * Monitoring requests (health checks, /status, /metrics) are left out, like the traffic counters of /status:
 * a release that fails its users while its health check passes must still show up here.
 */

/** Upper bounds in seconds, Prometheus' client default buckets. */
export const LATENCY_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

export class HttpMetrics {
  private readonly byCode = new Map<number, number>();
  private readonly buckets = new Array<number>(LATENCY_BUCKETS_S.length).fill(0);
  private count = 0;
  private sumSeconds = 0;

  record(status: number, durationMs: number): void {
    this.byCode.set(status, (this.byCode.get(status) ?? 0) + 1);
    const seconds = durationMs / 1_000;
    this.count++;
    this.sumSeconds += seconds;
    LATENCY_BUCKETS_S.forEach((le, i) => {
      if (seconds <= le) this.buckets[i] = (this.buckets[i] ?? 0) + 1;
    });
  }

  render(labels: Readonly<Record<string, string>>): string {
    const base = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
    const lbl = (...extra: string[]) => `{${[...base, ...extra].join(",")}}`;
    const lines = [
      "# HELP http_requests_total Traffic requests answered, by status code (monitoring left out).",
      "# TYPE http_requests_total counter",
    ];
    for (const [code, n] of [...this.byCode].sort(([a], [b]) => a - b))
      lines.push(`http_requests_total${lbl(`code="${code}"`)} ${n}`);
    lines.push(
      "# HELP http_request_duration_seconds Time from request to the end of its answer.",
      "# TYPE http_request_duration_seconds histogram",
    );
    LATENCY_BUCKETS_S.forEach((le, i) => {
      lines.push(`http_request_duration_seconds_bucket${lbl(`le="${le}"`)} ${this.buckets[i]}`);
    });
    lines.push(
      `http_request_duration_seconds_bucket${lbl('le="+Inf"')} ${this.count}`,
      `http_request_duration_seconds_sum${lbl()} ${this.sumSeconds}`,
      `http_request_duration_seconds_count${lbl()} ${this.count}`,
    );
    return `${lines.join("\n")}\n`;
  }
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}
