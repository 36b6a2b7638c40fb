"use client";

import {
  Area,
  CartesianGrid,
  ComposedChart,
  Line,
  ReferenceLine,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from "recharts";
import { formatAxisCount } from "../../lib/format";
import type { TrafficMarker } from "../rollouts/timeline";
import type { TrafficPoint } from "./history";

const clock = (t: number) => new Date(t).toLocaleTimeString(undefined, { hour12: false });
/** Markers of one drain can be tenths of a second apart. */
const clockMs = (t: number) =>
  `${clock(t)}.${String(new Date(t).getMilliseconds()).padStart(3, "0").slice(0, 1)}`;

/** Rows the marker numbers are stacked in: at 1 Hz samples a whole drain can fit between two ticks. */
const LABEL_ROWS = 4;

/**
 * A marker's number at the top of its line, each marker on its own row so markers a few pixels apart stay
 * legible; what the numbers mean is listed under the chart.
 */
function markerLabel(n: number) {
  return function MarkerLabel(props: { viewBox?: { x?: number; y?: number } }) {
    const x = props.viewBox?.x ?? 0;
    const y = props.viewBox?.y ?? 0;
    return (
      <text x={x + 3} y={y + 10 + ((n - 1) % LABEL_ROWS) * 12} fontSize={11} fill="var(--ink)">
        {n}
      </text>
    );
  };
}

/**
 * Requests/s arriving at one target. The trace turns red from the moment the health check failed: that is
 * the traffic keep-alive clients still send through their session entries, which only the stop (FIN)
 * ends. Open sessions on the right axis.
 */
export function TrafficChart({
  target,
  points,
  markers,
}: {
  target: string;
  points: TrafficPoint[];
  markers: TrafficMarker[];
}) {
  const after = points.filter((p) => p.afterCheckFailed !== null && p.afterCheckFailed > 0).length;
  const last = points[points.length - 1];
  const summary =
    points.length === 0
      ? `No traffic samples for ${target} yet.`
      : `${target}: ${points.length} samples, latest ${last?.rps ?? 0} requests/s and ${last?.sessions ?? 0} open sessions; ${after} samples with traffic after the health check failed.`;
  const start = points[0]?.t ?? 0;
  const visible = markers.filter((m) => m.at >= start);
  return (
    <figure
      className="chart"
      data-testid={`traffic-${target}`}
      data-samples={points.length}
      data-after-failed={after}
    >
      <figcaption>
        <strong>{target}</strong> <span className="visually-hidden">{summary}</span>
      </figcaption>
      {points.length === 0 ? (
        <p className="muted chart-empty">Waiting for traffic samples…</p>
      ) : (
        <div className="chart-box">
          <ResponsiveContainer width="100%" height="100%">
            <ComposedChart data={points} margin={{ top: 16, right: 8, bottom: 0, left: 0 }}>
              <CartesianGrid strokeDasharray="3 3" stroke="var(--grid)" />
              <XAxis
                dataKey="t"
                type="number"
                domain={["dataMin", "dataMax"]}
                tickFormatter={clock}
                minTickGap={40}
              />
              {/* Counts as 1.5k, 12k: at most four characters, which these widths fit at the axis' font size. */}
              <YAxis yAxisId="rps" width={44} allowDecimals={false} tickFormatter={formatAxisCount} />
              <YAxis
                yAxisId="sessions"
                orientation="right"
                width={44}
                allowDecimals={false}
                tickFormatter={formatAxisCount}
              />
              <Tooltip labelFormatter={(t: unknown) => clock(Number(t))} />
              <Area
                yAxisId="rps"
                dataKey="afterCheckFailed"
                name="req/s after health check failed"
                stroke="var(--alert)"
                fill="var(--alert-soft)"
                isAnimationActive={false}
                connectNulls={false}
              />
              <Line
                yAxisId="rps"
                dataKey="healthy"
                name="req/s"
                stroke="var(--accent)"
                dot={false}
                isAnimationActive={false}
                connectNulls={false}
              />
              <Line
                yAxisId="sessions"
                dataKey="sessions"
                name="open sessions"
                stroke="var(--muted)"
                strokeDasharray="4 3"
                dot={false}
                isAnimationActive={false}
              />
              {visible.map((m, i) => (
                <ReferenceLine
                  key={`${m.label}-${m.at}`}
                  yAxisId="rps"
                  x={m.at}
                  stroke="var(--ink)"
                  strokeDasharray="2 2"
                  label={markerLabel(i + 1)}
                />
              ))}
            </ComposedChart>
          </ResponsiveContainer>
        </div>
      )}
      {points.length > 0 && visible.length > 0 && (
        <ol className="markers" aria-label={`${target}: moments marked on the chart`}>
          {visible.map((m) => (
            <li key={`${m.label}-${m.at}`}>
              {m.label} <span className="muted">{clockMs(m.at)}</span>
            </li>
          ))}
        </ol>
      )}
    </figure>
  );
}
