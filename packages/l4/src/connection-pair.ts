import { connect, type Socket } from "node:net";
import type { DropReason } from "./counters.js";
import type { RealServer } from "./real-server.js";
import type { SessionEntry } from "./session-table.js";
import type { TotalCounters } from "./types.js";

/** What a connection pair needs from the device. */
export interface FlowContext {
  readonly totals: TotalCounters;
  /** Forgets the pair's entry (no-op when it has none), bumping the reason's counter. */
  drop(pair: ConnectionPair, reason: DropReason): void;
  /**
   * Client data arrived on a flow the table no longer knows: true if the device re-created its entry,
   * false if it reset the client.
   */
  readmit(pair: ConnectionPair): boolean;
  /** Both sockets are closed. */
  released(pair: ConnectionPair): void;
}

// After one side is gone, the other gets this long to finish on its own before it is destroyed, so a
// peer that never closes cannot pin a socket forever.
const LINGER_MS = 60_000;

/**
 * One client connection and its upstream connection. The pair is also the flow's session entry, so the
 * data path allocates nothing per chunk beyond what the sockets do.
 */
export class ConnectionPair implements SessionEntry {
  readonly upstream: Socket;
  inTable = false;
  createdAt = 0;
  lastClientAt = 0;
  clientBytes = 0;
  clientPackets = 0;
  /**
   * The device stopped tracking this connection on purpose (a FIN was seen, or its server left the binding
   * list): its remaining client data is forwarded as is, never rescheduled.
   */
  private untracked = false;
  private connected = false;
  private clientClosed = false;
  private upstreamClosed = false;
  private released = false;

  constructor(
    private readonly ctx: FlowContext,
    readonly client: Socket,
    public server: RealServer,
    readonly key: string,
    readonly clientIp: string,
  ) {
    // The "SYN": the device opens its own connection to the picked server at once.
    const upstream = connect({ host: server.host, port: server.port, noDelay: true, allowHalfOpen: true });
    this.upstream = upstream;
    client.on("data", this.onClientData);
    client.on("end", this.onClientEnd);
    client.on("error", this.onClientError);
    client.on("close", this.onClientClose);
    client.on("drain", this.onClientDrain);
    upstream.on("connect", this.onUpstreamConnect);
    upstream.on("data", this.onUpstreamData);
    upstream.on("end", this.onUpstreamEnd);
    upstream.on("error", this.onUpstreamError);
    upstream.on("close", this.onUpstreamClose);
    upstream.on("drain", this.onUpstreamDrain);
  }

  /** A device-sent RST to the client; the server's side is closed with FIN. */
  resetClient(): void {
    this.client.resetAndDestroy();
  }

  /** Keeps forwarding, but never re-creates an entry (the server was removed from the binding list). */
  untrack(): void {
    this.untracked = true;
  }

  /** Tears both sockets down without ceremony (device stop). */
  destroy(): void {
    this.client.destroy();
    this.upstream.destroy();
  }

  private readonly onClientData = (chunk: Buffer): void => {
    if (!this.inTable && !this.untracked && !this.ctx.readmit(this)) return;
    const n = chunk.length;
    this.lastClientAt = Date.now();
    this.clientBytes += n;
    this.clientPackets++;
    const c = this.server.counters;
    c.clientBytes += n;
    c.clientPackets++;
    const t = this.ctx.totals;
    t.clientBytes += n;
    t.clientPackets++;
    if (!this.upstream.write(chunk)) this.client.pause();
  };

  // DSR: responses bypass the device, so they never refresh the entry and are not counted.
  private readonly onUpstreamData = (chunk: Buffer): void => {
    if (this.client.destroyed) return;
    if (!this.client.write(chunk)) this.upstream.pause();
  };

  private readonly onClientDrain = (): void => {
    this.upstream.resume();
  };

  private readonly onUpstreamDrain = (): void => {
    this.client.resume();
  };

  private readonly onUpstreamConnect = (): void => {
    this.connected = true;
  };

  private readonly onClientEnd = (): void => {
    this.untracked = true;
    this.ctx.drop(this, "fin");
    if (!this.upstream.destroyed) this.upstream.end();
  };

  private readonly onUpstreamEnd = (): void => {
    this.untracked = true;
    this.ctx.drop(this, "fin");
    if (!this.client.destroyed) this.client.end();
  };

  private readonly onClientError = (): void => {
    this.ctx.drop(this, "rst");
    resetSocket(this.upstream);
  };

  private readonly onUpstreamError = (): void => {
    // Refused (or unreachable) before the handshake completed: the client's SYN is answered with RST.
    this.ctx.drop(this, this.connected ? "rst" : "refused");
    this.client.resetAndDestroy();
  };

  private readonly onClientClose = (hadError: boolean): void => {
    this.clientClosed = true;
    this.ctx.drop(this, hadError ? "rst" : "fin");
    if (!this.upstreamClosed) {
      if (hadError) resetSocket(this.upstream);
      else lingerThenDestroy(this.upstream);
    }
    this.maybeRelease();
  };

  private readonly onUpstreamClose = (hadError: boolean): void => {
    this.upstreamClosed = true;
    this.ctx.drop(this, hadError ? "rst" : "fin");
    if (!this.clientClosed) {
      if (hadError) this.client.resetAndDestroy();
      else lingerThenDestroy(this.client);
    }
    this.maybeRelease();
  };

  private maybeRelease(): void {
    if (this.released || !this.clientClosed || !this.upstreamClosed) return;
    this.released = true;
    this.ctx.released(this);
  }
}

/** RST if connected; a socket still connecting is just abandoned (there is nothing to reset yet). */
function resetSocket(socket: Socket): void {
  if (socket.destroyed) return;
  if (socket.connecting) socket.destroy();
  else socket.resetAndDestroy();
}

function lingerThenDestroy(socket: Socket): void {
  if (socket.destroyed) return;
  socket.end();
  socket.setTimeout(LINGER_MS, () => socket.destroy());
}
