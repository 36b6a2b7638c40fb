import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Target } from "@ebb/core";
import { freePort } from "@ebb/testkit";
import { HaproxyBalancer } from "../src/haproxy/balancer.js";
import { type HaproxyLabSpec, type HaproxyProcess, startHaproxyProcess } from "../src/haproxy/process.js";
import { type HttpUpstream, startHttpUpstream } from "./http-upstream.js";
import type { Teardown } from "./teardown.js";

export interface HaproxyTestLab {
  haproxy: HaproxyProcess;
  spec: HaproxyLabSpec;
  upstreams: Record<string, HttpUpstream>;
  targets: Record<string, Target>;
  balancer(extra?: Record<string, unknown>): HaproxyBalancer;
}

/**
 * A real HAProxy (Debian's 2.6) in front of fake upstreams whose health check the test flips. Fast
 * checks (inter 100 ms) so states change within a test's patience.
 */
export async function startHaproxyLab(
  teardown: Teardown,
  names: readonly string[],
  overrides: Partial<Omit<HaproxyLabSpec, "dir" | "servers" | "vip">> = {},
): Promise<HaproxyTestLab> {
  const dir = teardown.add(mkdtempSync(join(tmpdir(), "ebb-haproxy-")), (d) =>
    rmSync(d, { recursive: true, force: true }),
  );
  const upstreams: Record<string, HttpUpstream> = {};
  const targets: Record<string, Target> = {};
  for (const [i, name] of names.entries()) {
    const up = teardown.add(await startHttpUpstream(`127.0.11.${i + 1}`), (u) => u.close());
    upstreams[name] = up;
    targets[name] = { name, host: up.host, port: up.port, executor: "local", labels: {} };
  }
  const spec: HaproxyLabSpec = {
    dir,
    mode: "tcp",
    vip: { host: "127.0.0.1", port: await freePort() },
    backend: "web",
    servers: names.map((name) => ({ name, host: upstreams[name]!.host, port: upstreams[name]!.port })),
    interMs: 100,
    fall: 2,
    rise: 1,
    // Well above a healthy answer's time on a busy 2-core machine: a check that times out would flap a
    // server these tests expect steady.
    checkTimeoutMs: 1000,
    ...overrides,
  };
  const haproxy = teardown.add(await startHaproxyProcess(spec), (p) => p.stop());
  return {
    haproxy,
    spec,
    upstreams,
    targets,
    balancer: (extra = {}) =>
      new HaproxyBalancer({
        config: { socket: haproxy.socketPath, backend: spec.backend, pollIntervalMs: 50, ...extra },
      }),
  };
}
