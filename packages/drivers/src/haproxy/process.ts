import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { RuntimeApiClient } from "./runtime-api.js";

/**
 * A real HAProxy for the lab and the tests: a config rendered from a few facts, run in the foreground
 * (`-db`) as a child process. Production fleets point Ebb at their own HAProxy instead.
 */
export interface HaproxyLabSpec {
  /** Directory for haproxy.cfg and the runtime socket (`admin.sock`). */
  dir: string;
  /** `tcp` (the L4 device's model: whole connections relayed) or `http` (each request seen). */
  mode: "tcp" | "http";
  vip: { host: string; port: number };
  backend: string;
  servers: readonly { name: string; host: string; port: number }[];
  /** Check timing in real ms (`inter`, `fall`, `rise`, `timeout check`). */
  interMs: number;
  fall: number;
  rise: number;
  checkTimeoutMs?: number;
  /** `timeout client` / `timeout server`: how long an idle relayed connection lives. */
  idleTimeoutMs?: number;
  /** HTTP mode: how long HAProxy keeps an idle client connection between requests. */
  httpKeepAliveMs?: number;
  /** Also listen on `ipv4@127.0.0.1:<port>` for the Runtime API. */
  tcpSocketPort?: number;
  /** `admin` (default) or `operator`, for the docs' level experiments. */
  level?: "admin" | "operator" | "user";
}

export function renderHaproxyConfig(spec: HaproxyLabSpec): string {
  const socket = join(spec.dir, "admin.sock");
  const level = spec.level ?? "admin";
  const idle = spec.idleTimeoutMs ?? 30_000;
  const lines = [
    "global",
    `  stats socket ${socket} mode 600 level ${level}`,
    ...(spec.tcpSocketPort ? [`  stats socket ipv4@127.0.0.1:${spec.tcpSocketPort} level ${level}`] : []),
    "  stats timeout 10s",
    "",
    "defaults",
    `  mode ${spec.mode}`,
    "  timeout connect 2s",
    `  timeout client ${idle}`,
    `  timeout server ${idle}`,
    ...(spec.mode === "http"
      ? [`  timeout http-keep-alive ${spec.httpKeepAliveMs ?? idle}`, "  option http-keep-alive"]
      : []),
    "",
    `frontend ${spec.backend}_vip`,
    `  bind ${spec.vip.host}:${spec.vip.port}`,
    `  default_backend ${spec.backend}`,
    "",
    `backend ${spec.backend}`,
    "  balance roundrobin",
    "  option httpchk GET /health_check.html",
    `  default-server check inter ${spec.interMs} fall ${spec.fall} rise ${spec.rise}`,
    `  timeout check ${spec.checkTimeoutMs ?? spec.interMs}`,
    ...spec.servers.map((s) => `  server ${s.name} ${s.host}:${s.port}`),
    "",
  ];
  return lines.join("\n");
}

export interface HaproxyProcess {
  socketPath: string;
  configPath: string;
  child: ChildProcess;
  /** The last lines HAProxy printed (alerts, warnings). */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Writes the config, checks it (`haproxy -c`), starts HAProxy in the foreground and resolves once its
 * Runtime API answers. Rejects with HAProxy's own words when it refuses the config or exits.
 */
export async function startHaproxyProcess(
  spec: HaproxyLabSpec,
  options: { bin?: string; readyTimeoutMs?: number } = {},
): Promise<HaproxyProcess> {
  const bin = options.bin ?? "haproxy";
  const configPath = join(spec.dir, "haproxy.cfg");
  const socketPath = join(spec.dir, "admin.sock");
  writeFileSync(configPath, renderHaproxyConfig(spec));
  let out = "";
  const child = spawn(bin, ["-db", "-f", configPath], { stdio: ["ignore", "pipe", "pipe"] });
  const keep = (chunk: Buffer) => {
    out = (out + chunk.toString("utf8")).slice(-4000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = once(child, "exit").then(([code, signal]) => ({ code, signal }));
  const proc: HaproxyProcess = {
    socketPath,
    configPath,
    child,
    output: () => out,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
  const client = new RuntimeApiClient(socketPath, 1000);
  const deadline = Date.now() + (options.readyTimeoutMs ?? 10_000);
  let startError: Error | undefined;
  child.once("error", (err) => {
    startError = err;
  });
  for (;;) {
    if (startError) throw new Error(`cannot start ${bin}: ${startError.message}`, { cause: startError });
    if (child.exitCode !== null) throw new Error(`haproxy exited with ${child.exitCode}: ${out.trim()}`);
    try {
      await client.command("show info");
      return proc;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      await proc.stop();
      throw new Error(`haproxy did not open its runtime socket ${socketPath} in time: ${out.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}
