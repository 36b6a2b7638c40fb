// Helpers for the VM tests (real processes, real sockets).
import { execFile, execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import net, { type Socket } from "node:net";
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
 * everything a drain can do to it: `Connection: close` answers, FINs and errors, also while it is idle.
 */
export class KeepAliveClient {
  readonly errors: string[] = [];
  requests = 0;
  sawConnectionClose = false;
  /** When the server's FIN arrived (Date.now()), if it did. */
  finAt: number | null = null;
  private socket: Socket | undefined;
  private stopped = false;

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {}

  /**
   * One request on the client's one connection (a new one when the server closed the last). A raw socket,
   * not http.Agent: since Node 22 the agent drops an idle pooled socket the peer closed or reset without
   * a word, and what a drain does to an idle keep-alive client is exactly what these tests look at.
   */
  get(urlPath: string): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const socket = this.connection();
      let buffer = Buffer.alloc(0);
      const fail = (err: NodeJS.ErrnoException) => {
        cleanup();
        this.errors.push(`${urlPath}: ${err.code ?? ""} ${err.message}`);
        reject(err);
      };
      const onClose = () => fail(Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }));
      const onData = (chunk: Buffer) => {
        buffer = Buffer.concat([buffer, chunk]);
        const answer = parseAnswer(buffer);
        if (!answer) return;
        cleanup();
        this.requests++;
        if (answer.connection === "close") {
          this.sawConnectionClose = true;
          socket.end();
          if (this.socket === socket) this.socket = undefined;
        }
        resolve(answer);
      };
      const cleanup = () => {
        socket.off("data", onData);
        socket.off("error", fail);
        socket.off("close", onClose);
      };
      socket.on("data", onData);
      socket.once("error", fail);
      socket.once("close", onClose);
      socket.write(
        `GET ${urlPath} HTTP/1.1\r\nHost: ${this.host}:${this.port}\r\nConnection: keep-alive\r\n\r\n`,
      );
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
    this.socket?.destroy();
    this.socket = undefined;
  }

  private connection(): Socket {
    if (this.socket && !this.socket.destroyed && this.socket.writable) return this.socket;
    const socket = net.connect({ host: this.host, port: this.port });
    socket.on("end", () => {
      this.finAt ??= Date.now();
      if (this.socket === socket) this.socket = undefined;
    });
    // Also while idle, between requests: a reset on a pooled connection is what a client pool would see.
    socket.on("error", (err: NodeJS.ErrnoException) => {
      this.errors.push(`socket: ${err.code ?? ""} ${err.message}`);
      if (this.socket === socket) this.socket = undefined;
    });
    this.socket = socket;
    return socket;
  }
}

/** A whole HTTP/1.1 answer with a Content-Length (what the lab VMs and test servers send), or undefined. */
function parseAnswer(buffer: Buffer): Answer | undefined {
  const head = buffer.indexOf("\r\n\r\n");
  if (head < 0) return undefined;
  const lines = buffer.subarray(0, head).toString("latin1").split("\r\n");
  const status = Number(lines[0]?.split(" ")[1] ?? 0);
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const i = line.indexOf(":");
    if (i > 0) headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  const length = Number(headers.get("content-length") ?? 0);
  if (buffer.length < head + 4 + length) return undefined;
  return {
    status,
    connection: headers.get("connection"),
    body: buffer.subarray(head + 4, head + 4 + length).toString("utf8"),
  };
}
