import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { VmLogger } from "./log.js";

interface Conn {
  id: number;
  socket: Socket;
  /** Requests received on this connection and not answered yet. */
  active: number;
  linger?: NodeJS.Timeout | undefined;
  /** We sent our FIN; waiting for the client's. */
  closing: boolean;
  /** Carried a request other than monitoring (health check, /status): a client's session. */
  traffic: boolean;
  /** Carried a monitoring request (a probe, a scrape). */
  monitoring: boolean;
}

export interface ConnectionCounts {
  total: number;
  idle: number;
  active: number;
}

/**
 * Cumulative counters since the process started, for a metrics scraper that computes its own deltas. The
 * `traffic` ones leave out monitoring (health checks, /status scrapes): a drained server still gets probed,
 * and an orchestrator waiting for its traffic to stop must not count its own scrapes as new sessions.
 */
export interface TrafficCounters {
  connectionsAccepted: number;
  requestsTotal: number;
  traffic: {
    /** Connections that carried at least one non-monitoring request (each counted once). */
    connections: number;
    requests: number;
    /** Such connections open now. */
    active: number;
    /**
     * Requests that arrived on a connection after we had closed it (our FIN crossed them): never answered,
     * the client saw the connection end instead ("socket hang up"). Zero in a good drain.
     */
    lostAfterFin: number;
  };
}

export interface ConnectionTrackerOptions {
  /** How long a connection that carried only monitoring may stay idle once the drain began before its FIN. */
  lingerMs: number;
  /**
   * The same for a connection that carried a client's traffic: as long as the stop allows. The server cannot
   * tell "no next request" from "a next request held back on the way" (a proxy's busy event loop, the
   * client's GC pause); a FIN that crosses a request fails it for a client that does not retry.
   */
  trafficIdleMs: number;
  /** Request paths that are monitoring, not traffic (see TrafficCounters). */
  monitoringPaths?: ReadonlySet<string>;
  log: VmLogger;
  /** Called after any connection closed (the stop re-checks whether it is done). */
  onClosed: () => void;
}

/**
 * Tracks every connection and whether it has a request in flight, and closes connections gracefully once a
 * drain began. Responses are marked `Connection: close` by the routes (see `draining`); Node then ends the
 * socket itself after that response: the only end of a keep-alive connection no client can race. What is
 * left are idle keep-alive connections: a client's gets `trafficIdleMs` (most of the stop budget) to send
 * one more request, answered normally with `Connection: close`; one that only carried monitoring gets
 * `lingerMs`. Then we close it with FIN (`socket.end()`), never RST, so a client or device in front sees
 * an orderly end of the flow. A short linger on a client's connection is issue 17's reset: a request held
 * back by a hop for longer than the linger crossed the FIN.
 */
export class ConnectionTracker {
  private readonly conns = new Map<Socket, Conn>();
  private nextId = 1;
  private drainStarted = false;
  private readonly totals = {
    connectionsAccepted: 0,
    requestsTotal: 0,
    trafficConnections: 0,
    trafficRequests: 0,
    lostAfterFin: 0,
  };

  constructor(private readonly opts: ConnectionTrackerOptions) {}

  attach(server: Server): void {
    server.on("connection", (socket: Socket) => this.add(socket));
    server.on("request", (req: IncomingMessage, res: ServerResponse) => this.onRequest(req, res));
  }

  get draining(): boolean {
    return this.drainStarted;
  }

  get size(): number {
    return this.conns.size;
  }

  connId(socket: Socket): number {
    return this.conns.get(socket)?.id ?? 0;
  }

  counts(): ConnectionCounts {
    let active = 0;
    for (const c of this.conns.values()) if (c.active > 0) active++;
    return { total: this.conns.size, idle: this.conns.size - active, active };
  }

  counters(): TrafficCounters {
    let active = 0;
    for (const c of this.conns.values()) if (c.traffic) active++;
    const t = this.totals;
    return {
      connectionsAccepted: t.connectionsAccepted,
      requestsTotal: t.requestsTotal,
      traffic: {
        connections: t.trafficConnections,
        requests: t.trafficRequests,
        active,
        lostAfterFin: t.lostAfterFin,
      },
    };
  }

  /** Requests that crossed our FIN (see TrafficCounters). */
  get lostAfterFin(): number {
    return this.totals.lostAfterFin;
  }

  /** Requests being answered right now, over all connections. */
  inFlight(): number {
    let n = 0;
    for (const c of this.conns.values()) n += c.active;
    return n;
  }

  beginDrain(): void {
    if (this.drainStarted) return;
    this.drainStarted = true;
    for (const conn of this.conns.values()) if (conn.active === 0) this.armLinger(conn);
  }

  private add(socket: Socket): void {
    const conn: Conn = {
      id: this.nextId++,
      socket,
      active: 0,
      closing: false,
      traffic: false,
      monitoring: false,
    };
    this.conns.set(socket, conn);
    this.totals.connectionsAccepted++;
    socket.once("close", () => {
      clearTimeout(conn.linger);
      this.conns.delete(socket);
      this.opts.onClosed();
    });
    // Accepted by the kernel before the listener closed, seen by us after the drain began: same treatment.
    if (this.drainStarted) this.armLinger(conn);
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const conn = this.conns.get(req.socket);
    if (!conn) return;
    this.totals.requestsTotal++;
    const path = (req.url ?? "/").split("?", 1)[0] ?? "/";
    if (this.opts.monitoringPaths?.has(path)) conn.monitoring = true;
    else {
      this.totals.trafficRequests++;
      if (!conn.traffic) {
        conn.traffic = true;
        this.totals.trafficConnections++;
      }
    }
    conn.active++;
    clearTimeout(conn.linger);
    conn.linger = undefined;
    res.once("close", () => {
      conn.active--;
      // A response sent with `Connection: close` makes Node end the socket; one whose headers went out before
      // the drain began left it open, and the idle clock restarts from this last response.
      if (this.drainStarted && conn.active === 0) this.armLinger(conn);
    });
  }

  private armLinger(conn: Conn): void {
    clearTimeout(conn.linger);
    if (conn.closing || conn.socket.destroyed) return;
    conn.linger = setTimeout(
      () => this.closeIdle(conn),
      conn.traffic ? this.opts.trafficIdleMs : this.opts.lingerMs,
    );
  }

  private closeIdle(conn: Conn): void {
    if (conn.active > 0 || conn.closing || conn.socket.destroyed) return;
    conn.closing = true;
    this.opts.log.info("closing idle keep-alive connection with FIN", { conn: conn.id });
    conn.socket.end();
    // Bytes after our FIN are a request the client sent before it saw the FIN: Node's HTTP server never
    // parses them, the client sees the connection end unanswered. Read them only to count that loss.
    let lost = false;
    conn.socket.on("data", () => {
      // A prober's or scraper's own connection (Ebb's, the kubelet's) is not a client's loss.
      if (lost || (conn.monitoring && !conn.traffic)) return;
      lost = true;
      this.totals.lostAfterFin++;
      this.opts.log.error("request arrived after we closed its idle connection (FIN): not answered", {
        conn: conn.id,
      });
    });
    conn.socket.resume();
    // A client that never answers our FIN with its own would hold the stop until the hard deadline; by now
    // it has seen our FIN, so tearing the socket down cannot surprise it.
    setTimeout(() => conn.socket.destroy(), Math.max(this.opts.lingerMs, 1_000)).unref();
  }
}
