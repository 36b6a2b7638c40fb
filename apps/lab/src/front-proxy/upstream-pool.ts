import { connect, type Socket } from "node:net";

interface Idle {
  socket: Socket;
  timer: NodeJS.Timeout;
}

/**
 * Idle upstream connections, kept for the proxy's own idle timeout and never watched meanwhile: like many
 * real proxies, it learns a pooled connection is dead only when it reuses it. That blind spot is the point
 * (domain.md section 2); http.Agent would hide it because it listens to its free sockets.
 */
export class UpstreamPool {
  private readonly idle: Idle[] = [];
  private readonly active = new Set<Socket>();

  constructor(
    private readonly upstream: { host: string; port: number },
    private readonly idleTimeoutMs: number,
  ) {}

  get size(): number {
    return this.idle.length;
  }

  /** The most recently released idle connection, else a new one (possibly still connecting). */
  acquire(): { socket: Socket; reused: boolean } {
    const entry = this.idle.pop();
    if (entry) {
      clearTimeout(entry.timer);
      this.active.add(entry.socket);
      return { socket: entry.socket, reused: true };
    }
    // allowHalfOpen: even a paused socket with nothing buffered emits 'end' on the upstream's FIN, and Node
    // would then close our side too. Half-open keeps the socket writable, so a reuse really sends the request
    // to the closed upstream connection and its kernel answers RST, as it does in the field.
    const socket = connect({ host: this.upstream.host, port: this.upstream.port, allowHalfOpen: true });
    socket.setNoDelay(true);
    // Errors are read by whoever uses the socket; this only keeps a stray one from crashing the process.
    socket.on("error", () => {});
    this.active.add(socket);
    return { socket, reused: false };
  }

  /** Back to the pool: paused, no reader. Forgotten (closed) after the proxy's idle timeout. */
  release(socket: Socket): void {
    this.active.delete(socket);
    socket.pause();
    const entry: Idle = {
      socket,
      timer: setTimeout(() => {
        const i = this.idle.indexOf(entry);
        if (i !== -1) this.idle.splice(i, 1);
        socket.destroy();
      }, this.idleTimeoutMs),
    };
    entry.timer.unref();
    this.idle.push(entry);
  }

  /** Not reusable (failed, Connection: close, or the proxy is stopping). */
  discard(socket: Socket): void {
    this.active.delete(socket);
    socket.destroy();
  }

  close(): void {
    for (const { socket, timer } of this.idle.splice(0)) {
      clearTimeout(timer);
      socket.destroy();
    }
    for (const socket of this.active) socket.destroy();
    this.active.clear();
  }
}
