import { describe, expect, it } from "vitest";
import { summaryLines } from "../../../apps/dashboard/features/audit/summary.js";

describe("an audit event's summary in the table", () => {
  it("flattens nested fields to dotted keys, lists as text", () => {
    expect(
      summaryLines({
        route: "POST /rollouts/:id/approve",
        result: { id: "d113", status: "running" },
        request: { target: "vm4", targets: ["vm1", "vm2"] },
        durationMs: 49,
        ok: true,
        reason: null,
      }),
    ).toEqual([
      { key: "route", value: "POST /rollouts/:id/approve" },
      { key: "result.id", value: "d113" },
      { key: "result.status", value: "running" },
      { key: "request.target", value: "vm4" },
      { key: "request.targets", value: "vm1, vm2" },
      { key: "durationMs", value: "49" },
      { key: "ok", value: "true" },
      { key: "reason", value: "null" },
    ]);
  });

  it("cuts long values and keeps the whole one; deep or list-of-object values stay JSON", () => {
    const [line] = summaryLines({ message: "x".repeat(100) }, 10);
    expect(line).toEqual({ key: "message", value: `${"x".repeat(9)}…`, full: "x".repeat(100) });
    expect(summaryLines({ a: { b: { c: { d: 1 } } } })).toEqual([{ key: "a.b.c", value: '{"d":1}' }]);
    expect(summaryLines({ issues: [{ line: 3 }] })).toEqual([{ key: "issues", value: '[{"line":3}]' }]);
    expect(summaryLines({ empty: {} })).toEqual([]);
  });
});
