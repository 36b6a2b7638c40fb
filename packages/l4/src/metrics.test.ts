import { waitFor } from "@ebb/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { startTestDevice, Teardown, vipAddress } from "../test-support/device.js";
import { RawClient } from "../test-support/raw-client.js";
import { startHttpUpstream } from "../test-support/upstreams.js";
import { renderMetrics } from "./metrics.js";

const teardown = new Teardown();
afterEach(() => teardown.run());

// Prometheus text format 0.0.4: `# HELP`/`# TYPE` comments, then `name{label="value",...} number`.
const SAMPLE =
  /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*)?\})? (-?[0-9.e+]+|NaN|[+-]Inf)$/;
const COMMENT = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/;

function parse(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  const typed = new Set<string>();
  expect(text.endsWith("\n")).toBe(true);
  for (const line of text.trimEnd().split("\n")) {
    const comment = COMMENT.exec(line);
    if (comment) {
      if (comment[1] === "TYPE") {
        expect(["counter", "gauge"]).toContain(comment[3]);
        typed.add(comment[2]!);
      }
      continue;
    }
    const m = SAMPLE.exec(line);
    expect(m, `not a Prometheus sample line: ${line}`).not.toBeNull();
    expect(typed.has(m![1]!), `${m![1]} sampled before its TYPE`).toBe(true);
    samples.set(`${m![1]}${m![2] ?? ""}`, Number(m![4]));
  }
  return samples;
}

describe("/metrics", () => {
  it("parses as Prometheus text and reflects sessions, health and counters", async () => {
    const up = teardown.add(await startHttpUpstream("127.0.2.10", "a"), (u) => u.close());
    const d = teardown.add(
      await startTestDevice({}, [
        { name: "a", host: up.host, port: up.port },
        // Nothing listens here: a failed server, and a name that needs escaping.
        { name: 'we"ird\\name', host: "127.0.2.11", port: 9 },
      ]),
      (x) => x.stop(),
    );
    await waitFor(() => d.server("a")?.bound, { what: "a bound" });
    const c = teardown.add(await RawClient.connect(vipAddress(d)), (x) => x.destroy());
    await c.request("/");
    await c.request("/close");
    await waitFor(() => d.server("a")!.counters.closedByFin === 1, { what: "entry closed by FIN" });

    const text = await (await fetch(`${d.adminUrl}/metrics`)).text();
    const m = parse(text);
    expect(m.get('ebb_l4_server_up{server="a"}')).toBe(1);
    expect(m.get('ebb_l4_server_up{server="we\\"ird\\\\name"}')).toBe(0);
    expect(m.get('ebb_l4_server_health{server="a",state="up"}')).toBe(1);
    expect(m.get('ebb_l4_server_health{server="a",state="failed"}')).toBe(0);
    expect(m.get('ebb_l4_server_health{server="we\\"ird\\\\name",state="failed"}')).toBe(1);
    expect(m.get('ebb_l4_sessions{server="a"}')).toBe(0);
    expect(m.get('ebb_l4_sessions_opened_total{server="a"}')).toBe(1);
    expect(m.get('ebb_l4_sessions_closed_total{server="a",reason="fin"}')).toBe(1);
    expect(m.get('ebb_l4_sessions_closed_total{server="a",reason="rst"}')).toBe(0);
    expect(m.get("ebb_l4_no_server_total")).toBe(0);
    expect(m.get("ebb_l4_table_full_total")).toBe(0);
    expect(m.get('ebb_l4_health_checks_total{server="a",result="pass"}')).toBeGreaterThanOrEqual(1);
    expect(renderMetrics(d)).toContain("# TYPE ebb_l4_sessions gauge");
  });
});
