import { spawnSync } from "node:child_process";
import { rm } from "node:fs/promises";
import http from "node:http";
import { freePort } from "@ebb/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildLab, tempLabDir } from "../../test-support/vm.js";
import { createVm, startVm, stopVm, vmStatus } from "./index.js";
import { releaseFlags } from "./release.js";

const HOST = "127.0.74.11";

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: HOST, port, path, agent: false }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          body += c;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on("error", reject);
  });
}

describe("lab release flags, from the release's name", () => {
  it.each([
    ["2.0.0", { failRatio: 0, slowMs: 0 }],
    ["2.0.0+fail30", { failRatio: 0.3, slowMs: 0 }],
    ["2.0.0+slow200", { failRatio: 0, slowMs: 200 }],
    ["2.1.0+fail5.slow50", { failRatio: 0.05, slowMs: 50 }],
    ["2.0.0+fail300", { failRatio: 1, slowMs: 0 }],
    // Only in the build metadata: a pre-release named "fail30" is just a name.
    ["2.0.0-fail30", { failRatio: 0, slowMs: 0 }],
    ["2.0.0+build7", { failRatio: 0, slowMs: 0 }],
  ])("%s", (version, flags) => {
    expect(releaseFlags(version)).toEqual(flags);
  });
});

describe("a lab VM on a release that fails 30% of its requests", () => {
  let labDir: string;
  let dir: string;
  let port: number;

  beforeAll(async () => {
    buildLab();
    labDir = await tempLabDir();
    port = await freePort(HOST);
    dir = await createVm(labDir, {
      name: "vm1",
      host: HOST,
      port,
      version: "2.0.0+fail30",
      drainLingerMs: 100,
      stopDeadlineMs: 5_000,
    });
    await startVm(dir);
  });
  afterAll(async () => {
    if (dir) await stopVm(dir, { signal: "SIGKILL", timeoutMs: 5_000 });
    if (labDir) await rm(labDir, { recursive: true, force: true });
  });

  it("answers 500 to exactly 3 of 10 traffic requests, never to a health check, and counts them in /metrics", async () => {
    // Nothing but this test's requests counted: starting the VM and asking its status are monitoring.
    expect(await vmStatus(dir)).toMatchObject({ running: true, runningVersion: "2.0.0+fail30" });
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      statuses.push((await get(port, "/")).status);
      // Monitoring in between: never failed, never counted.
      expect((await get(port, "/health_check.html")).status).toBe(200);
    }
    expect(statuses.filter((s) => s === 500)).toHaveLength(3);
    expect(statuses.filter((s) => s === 200)).toHaveLength(7);

    const metrics = await get(port, "/metrics");
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain('http_requests_total{host="vm1",version="2.0.0+fail30",code="200"} 7\n');
    expect(metrics.body).toContain('http_requests_total{host="vm1",version="2.0.0+fail30",code="500"} 3\n');
    expect(metrics.body).toContain(
      'http_request_duration_seconds_count{host="vm1",version="2.0.0+fail30"} 10\n',
    );
    expect(metrics.body).toContain(
      'http_request_duration_seconds_bucket{host="vm1",version="2.0.0+fail30",le="+Inf"} 10\n',
    );
    // Prometheus' own linter accepts the exposition (promtool comes with Debian's prometheus package).
    const lint = spawnSync("promtool", ["check", "metrics"], { input: metrics.body, encoding: "utf8" });
    if (lint.error === undefined) expect(lint.status, lint.stdout + lint.stderr).toBe(0);
  });
});
