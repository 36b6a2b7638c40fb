import { once } from "node:events";
import { connect, type Socket } from "node:net";

export interface HttpReply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * One TCP connection the test fully controls: HTTP requests on it are strictly sequential (keep-alive),
 * and how it ended (FIN or RST) is recorded rather than thrown.
 */
export class RawClient {
  /** Error code if the connection died by error (`ECONNRESET` for a RST). */
  error: string | undefined;
  /** The peer sent FIN. */
  ended = false;
  closed = false;
  private buffer = Buffer.alloc(0);
  private waiter: (() => void) | undefined;

  private constructor(readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.wake();
    });
    socket.on("end", () => {
      this.ended = true;
      this.wake();
    });
    socket.on("error", (err: NodeJS.ErrnoException) => {
      this.error = err.code ?? err.message;
      this.wake();
    });
    socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
  }

  static async connect(address: { host: string; port: number }, localAddress?: string): Promise<RawClient> {
    const client = RawClient.open(address, localAddress);
    await once(client.socket, "connect");
    return client;
  }

  /** Connects without waiting: for connections the device may reset before the client saw `connect`. */
  static open(address: { host: string; port: number }, localAddress?: string): RawClient {
    return new RawClient(
      connect({ ...address, ...(localAddress ? { localAddress } : {}), allowHalfOpen: true }),
    );
  }

  get localPort(): number {
    return this.socket.localPort ?? 0;
  }

  get received(): Buffer {
    return this.buffer;
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** One request on this connection; rejects if the connection ends or fails first. */
  async request(path: string): Promise<HttpReply> {
    this.buffer = Buffer.alloc(0);
    this.write(`GET ${path} HTTP/1.1\r\nHost: vip\r\n\r\n`);
    for (;;) {
      const reply = parseReply(this.buffer);
      if (reply) {
        this.buffer = this.buffer.subarray(reply.consumed);
        return reply.reply;
      }
      if (this.error || this.ended || this.closed) {
        throw new Error(
          `connection ${this.error ? `failed: ${this.error}` : "closed"} before a reply to ${path}`,
        );
      }
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
    }
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }
}

function parseReply(buf: Buffer): { reply: HttpReply; consumed: number } | undefined {
  const headEnd = buf.indexOf("\r\n\r\n");
  if (headEnd < 0) return undefined;
  const [statusLine = "", ...lines] = buf.subarray(0, headEnd).toString("latin1").split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(":");
    headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  const length = Number(headers["content-length"] ?? 0);
  if (buf.length < headEnd + 4 + length) return undefined;
  const body = buf.subarray(headEnd + 4, headEnd + 4 + length).toString("utf8");
  return {
    reply: { status: Number(statusLine.split(" ")[1]), headers, body },
    consumed: headEnd + 4 + length,
  };
}
