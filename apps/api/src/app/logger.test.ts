import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { setImmediate as nextTurn } from "node:timers/promises";
import { afterEach, describe, expect, it, vi } from "vitest";
import { withLogContext } from "../common/log-context.js";
import { requestIdMiddleware } from "../common/request-id.js";
import { createLogger } from "./logger.js";

/** What the logger wrote to stdout and stderr, line by line. */
function capture(): { lines: () => string[] } {
  const chunks: string[] = [];
  const keep = (chunk: string | Uint8Array) => {
    chunks.push(String(chunk));
    return true;
  };
  vi.spyOn(process.stdout, "write").mockImplementation(keep);
  vi.spyOn(process.stderr, "write").mockImplementation(keep);
  return { lines: () => chunks.join("").split("\n").filter(Boolean) };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("createLogger", () => {
  it("auto: one JSON object per line when stdout is not a terminal", () => {
    const out = capture();
    const logger = createLogger("info", "auto", false);
    logger.log("API listening on http://127.0.0.1:4000/api/v1", "boot");
    logger.warn("worker: connection lost", "worker");

    const lines = out.lines();
    expect(lines).toHaveLength(2);
    const [first, second] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(first).toMatchObject({
      level: "log",
      context: "boot",
      message: "API listening on http://127.0.0.1:4000/api/v1",
    });
    expect(second).toMatchObject({ level: "warn", context: "worker" });
  });

  it("text in a pipe carries no ANSI codes; on a terminal auto stays readable text", () => {
    const out = capture();
    createLogger("info", "text", false).log("started", "boot");
    createLogger("info", "auto", true).log("started", "boot");

    const [piped, terminal] = out.lines();
    expect(piped).toContain("started");
    expect(piped).not.toContain("\u001b[");
    expect(() => JSON.parse(terminal!)).toThrow();
  });

  it("puts Nest's module and route-mapping lines at debug", () => {
    const out = capture();
    createLogger("info", "json", false).log("AppModule dependencies initialized", "InstanceLoader");
    createLogger("info", "json", false).log("Mapped {/api/v1/fleets, GET} route", "RouterExplorer");
    expect(out.lines()).toEqual([]);

    createLogger("debug", "json", false).log("Mapped {/api/v1/fleets, GET} route", "RouterExplorer");
    expect(JSON.parse(out.lines()[0]!)).toMatchObject({ level: "debug", context: "RouterExplorer" });
  });
});

describe("the request id and rollout id on every line", () => {
  it("a line logged while serving a request, after an await, carries the request's id", async () => {
    const logger = createLogger("info", "json", false);
    const server = createServer((req, res) =>
      requestIdMiddleware(req, res, async () => {
        await nextTurn();
        logger.log("handled", "http");
        res.end();
      }),
    ).listen(0, "127.0.7.5");
    await once(server, "listening");
    try {
      const out = capture();
      const { port } = server.address() as AddressInfo;
      await fetch(`http://127.0.7.5:${port}/`, { headers: { "x-request-id": "req-42" } });
      logger.log("outside any request", "http");

      const [handled, outside] = out.lines().map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(handled).toMatchObject({ message: "handled", requestId: "req-42" });
      expect(outside).not.toHaveProperty("requestId");
    } finally {
      server.close();
    }
  });

  it("text lines name the rollout of the job they were written for", () => {
    const out = capture();
    const logger = createLogger("info", "text", false);
    withLogContext({ rolloutId: "0b6c" }, () => logger.log("step started", "worker"));
    logger.log("idle", "worker");

    const [inJob, idle] = out.lines();
    expect(inJob).toMatch(/\[worker\] \(rollout 0b6c\) step started/);
    expect(idle).not.toContain("rollout");
  });
});
