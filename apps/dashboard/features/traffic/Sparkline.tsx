"use client";

import { Line, LineChart, YAxis } from "recharts";

/**
 * Requests/s of one target over the last minute, small enough for a table cell. Fixed pixel size: a
 * responsive container inside a table cell measures before the table is laid out.
 */
export function Sparkline({
  points,
  alert,
}: {
  points: { t: number; rps: number | null }[];
  alert?: boolean;
}) {
  return (
    <span className="sparkline" aria-hidden="true" data-points={points.length}>
      <LineChart width={120} height={28} data={points} margin={{ top: 2, right: 2, bottom: 2, left: 2 }}>
        <YAxis hide domain={[0, (max: number) => Math.max(1, max)]} />
        <Line
          type="monotone"
          dataKey="rps"
          stroke={alert ? "var(--alert)" : "var(--accent)"}
          strokeWidth={1.5}
          dot={false}
          isAnimationActive={false}
        />
      </LineChart>
    </span>
  );
}
