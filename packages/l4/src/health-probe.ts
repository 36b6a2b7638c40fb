import { request } from "node:http";
import { connect } from "node:net";
import { performance } from "node:perf_hooks";
import { hostPort } from "./address.js";

export interface ProbeResult {
  ok: boolean;
  /** `status 200`, `ECONNREFUSED`, `timeout`, ... */
  detail: string;
  durationMs: number;
}

export interface ProbeSpec {
  host: string;
  port: number;
  mode: "l7" | "l4";
  path: string;
  expectStatus: number;
  timeoutMs: number;
}

export interface RunningProbe {
  result: Promise<ProbeResult>;
  /** Aborts the probe; its result then no longer matters. */
  cancel(): void;
}

/** One health check on its own fresh TCP connection, bounded by the timeout (connect included). */
export function probe(spec: ProbeSpec): RunningProbe {
  let cancel = (): void => {};
  const result = new Promise<ProbeResult>((resolve) => {
    const started = performance.now();
    let settled = false;
    const settle = (ok: boolean, detail: string): void => {
      if (settled) return;
      settled = true;
      resolve({ ok, detail, durationMs: Math.round((performance.now() - started) * 10) / 10 });
    };
    try {
      cancel = spec.mode === "l7" ? probeL7(spec, settle) : probeL4(spec, settle);
    } catch (err) {
      // e.g. a host that cannot go into a Host header: a failed check, not a crashed device.
      settle(false, errorDetail(err as Error));
    }
  });
  return { result, cancel: () => cancel() };
}

type Settle = (ok: boolean, detail: string) => void;

function probeL7(spec: ProbeSpec, settle: Settle): () => void {
  const req = request({
    host: spec.host,
    port: spec.port,
    method: "GET",
    path: spec.path,
    // A device check never reuses a connection: each check is a new SYN.
    agent: false,
    headers: { host: hostPort(spec.host, spec.port), connection: "close" },
  });
  // The timer outlives the verdict on purpose: a server that sends its status line but never finishes or
  // closes must not keep the check's socket open past the timeout.
  const timer = setTimeout(() => {
    settle(false, "timeout");
    req.destroy();
  }, spec.timeoutMs);
  req.on("response", (res) => {
    settle(res.statusCode === spec.expectStatus, `status ${res.statusCode}`);
    res.on("error", () => {});
    res.resume();
  });
  req.on("error", (err) => settle(false, errorDetail(err)));
  req.on("close", () => {
    clearTimeout(timer);
    settle(false, "connection closed before a response");
  });
  req.end();
  return () => {
    clearTimeout(timer);
    settle(false, "cancelled");
    req.destroy();
  };
}

function probeL4(spec: ProbeSpec, settle: Settle): () => void {
  const socket = connect({ host: spec.host, port: spec.port });
  const timer = setTimeout(() => {
    settle(false, "timeout");
    socket.destroy();
  }, spec.timeoutMs);
  socket.on("connect", () => {
    clearTimeout(timer);
    settle(true, "connected");
    socket.destroy();
  });
  socket.on("error", (err) => {
    clearTimeout(timer);
    settle(false, errorDetail(err));
  });
  return () => {
    clearTimeout(timer);
    settle(false, "cancelled");
    socket.destroy();
  };
}

function errorDetail(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code ?? err.message;
}
