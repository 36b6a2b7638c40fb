// Helpers for the VM tests (real processes, real sockets).
import { execFile, execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import http from "node:http";
import type { Socket } from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ctlPath, serverPath } from "../src/vm/paths.js";

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));

/**
 * Builds apps/lab so dist/vm/{server,ctl}.js exist for spawning. Other folders of apps/lab may be mid-edit by
 * their owners; tsc still emits, so only errors in src/vm/ (or a missing output) fail the build here.
 */
export function buildLab(): void {
  try {
    execFileSync(path.join(repoRoot, "node_modules/.bin/tsc"), ["-b", "apps/lab"], {
      cwd: repoRoot,
      stdio: "pipe",
    });
  } catch (err) {
    const e = err as { stdout?: Buffer; stderr?: Buffer };
    const out = `${e.stdout?.toString() ?? ""}${e.stderr?.toString() ?? ""}`;
    if (/src[\\/]vm[\\/]/.test(out) || !existsSync(serverPath()) || !existsSync(ctlPath())) {
      throw new Error(`tsc -b apps/lab failed:\n${out}`, { cause: err });
    }
  }
}

export function tempLabDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), "ebb-vm-test-"));
}

export interface CtlRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built `ebb-vm` as a separate process, the way a runbook exec step does. */
export function ctl(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CtlRun> {
  // The test's own environment must not choose the VM or the version behind the test's back.
  const base = { ...process.env };
  for (const name of ["EBB_VM_DIR", "EBB_LAB_DIR", "EBB_VERSION"]) delete base[name];
  return new Promise((resolve) => {
    execFile(process.execPath, [ctlPath(), ...args], { env: { ...base, ...env } }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

export interface Answer {
  status: number;
  connection: string | undefined;
  body: string;
}

/**
 * A keep-alive HTTP client (one socket, like a browser tab or a proxy's upstream pool of one) that records
 * everything a drain can do to it: `Connection: close` answers, FINs and errors. The agent silently discards
 * a reset on an idle pooled socket, so the client listens on the sockets themselves.
 */
export class KeepAliveClient {
  readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  readonly errors: string[] = [];
  requests = 0;
  sawConnectionClose = false;
  /** When the server's FIN arrived (Date.now()), if it did. */
  finAt: number | null = null;
  private readonly hooked = new WeakSet<Socket>();
  private stopped = false;

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {}

  get(urlPath: string): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const req = http.get({ host: this.host, port: this.port, path: urlPath, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          this.requests++;
          const connection = res.headers.connection;
          if (connection === "close") this.sawConnectionClose = true;
          resolve({ status: res.statusCode ?? 0, connection, body: Buffer.concat(chunks).toString("utf8") });
        });
      });
      req.on("socket", (s: Socket) => this.hook(s));
      req.on("error", (err: NodeJS.ErrnoException) => {
        this.errors.push(`${urlPath}: ${err.code ?? ""} ${err.message}`);
        reject(err);
      });
    });
  }

  /** Back-to-back requests until the server answers `Connection: close`, an error, or stop(). */
  async loop(urlPath: string): Promise<void> {
    while (!this.stopped) {
      try {
        if ((await this.get(urlPath)).connection === "close") return;
      } catch {
        return;
      }
    }
  }

  get sawCloseOrFin(): boolean {
    return this.sawConnectionClose || this.finAt !== null;
  }

  stop(): void {
    this.stopped = true;
    this.agent.destroy();
  }

  private hook(s: Socket): void {
    if (this.hooked.has(s)) return;
    this.hooked.add(s);
    s.on("end", () => {
      this.finAt ??= Date.now();
    });
    s.on("error", (err: NodeJS.ErrnoException) =>
      this.errors.push(`socket: ${err.code ?? ""} ${err.message}`),
    );
  }
}
