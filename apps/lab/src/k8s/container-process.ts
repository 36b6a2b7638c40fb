import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";
import net from "node:net";
import { createInterface } from "node:readline";

/** How the lab's kubelet runs an image that is not the lab web server: the image's entrypoint, as argv. */
export interface LabImage {
  command: string[];
}

/**
 * One container that is a plain process (a native sidecar such as the drain hook): spawned with its env,
 * its output in `<logPath>` and, line by line, in the lab's log; restarted by the caller when it exits.
 */
export class ContainerProcess {
  private child: ChildProcess | undefined;
  private log: WriteStream | undefined;
  private exitedAt: string | undefined;
  exitCode: number | null = null;
  startedAt: string | undefined;
  restarts = 0;

  constructor(
    readonly name: string,
    private readonly argv: string[],
    private readonly env: Record<string, string>,
    private readonly logPath: string,
    private readonly onLine: (line: string) => void,
  ) {}

  get alive(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get finishedAt(): string | undefined {
    return this.exitedAt;
  }

  start(): void {
    const [cmd, ...args] = this.argv;
    if (!cmd) throw new Error(`container ${this.name}: empty command`);
    this.log ??= createWriteStream(this.logPath, { flags: "a" });
    this.exitCode = null;
    this.exitedAt = undefined;
    const child = spawn(cmd, args, { env: this.env, stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    this.startedAt = new Date().toISOString();
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on("line", (line) => {
        this.log?.write(`${line}\n`);
        this.onLine(line);
      });
    }
    child.once("exit", (code, signal) => {
      this.exitCode = code ?? (signal === "SIGKILL" ? 137 : 143);
      this.exitedAt = new Date().toISOString();
    });
    child.once("error", (err) => {
      this.onLine(`spawn failed: ${err.message}`);
      this.exitCode = 128;
      this.exitedAt = new Date().toISOString();
    });
  }

  signal(sig: NodeJS.Signals): void {
    if (this.alive) this.child?.kill(sig);
  }

  close(): void {
    this.signal("SIGKILL");
    this.log?.end();
    this.log = undefined;
  }
}

/** Whether something accepts TCP connections on host:port (a container's declared port is open). */
export function portOpen(host: string, port: number, timeoutMs = 200): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once("connect", () => done(true));
    s.once("error", () => done(false));
  });
}
