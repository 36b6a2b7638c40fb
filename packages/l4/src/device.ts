import { once } from "node:events";
import { createServer, type Server, type Socket } from "node:net";
import { hostPort } from "./address.js";
import { type AdminServer, startAdminServer } from "./admin/server.js";
import { Coalescer } from "./coalescer.js";
import {
  applyConfigPatch,
  changedFields,
  type DeepPartialConfig,
  type DeviceConfig,
  parseDeviceConfig,
} from "./config.js";
import { ConnectionPair, type FlowContext } from "./connection-pair.js";
import { newTotalCounters } from "./counters.js";
import { ConfigError, UnknownServerError } from "./errors.js";
import { EventLog } from "./event-log.js";
import { type HealthCheckTiming, HealthMonitor } from "./health-monitor.js";
import type { ProbeResult } from "./health-probe.js";
import { nextHealth } from "./health-state.js";
import { parseServerSpec, RealServer } from "./real-server.js";
import { createScheduler, type Scheduler } from "./scheduler.js";
import { SessionTable, sessionView } from "./session-table.js";
import { scaledMs, sweepPeriodMs } from "./timing.js";
import type {
  AdminState,
  CountersView,
  DeviceEvent,
  RealServerSpec,
  ServerCounters,
  ServerView,
  SessionView,
} from "./types.js";

export interface L4DeviceOptions {
  config?: DeepPartialConfig;
  servers?: RealServerSpec[];
  /** Receives one line per notable state change; never called on the data path. */
  log?: (line: string) => void;
}

const noop = (): void => {};

/**
 * The emulated L4 load balancer: a VIP that proxies TCP to a binding list of real servers, with a session
 * table that behaves like a DSR device's (see domain.md section 1), health checks and an admin API.
 */
export class L4Device {
  private cfg: DeviceConfig;
  private scheduler: Scheduler;
  private readonly serversByName = new Map<string, RealServer>();
  private readonly monitors = new Map<RealServer, HealthMonitor>();
  /** Bound servers in binding-list order; recomputed on every state change, read on every new flow. */
  private bound: RealServer[] = [];
  private readonly totals = newTotalCounters();
  private readonly table = new SessionTable<ConnectionPair>(this.totals);
  private readonly pairs = new Set<ConnectionPair>();
  private readonly eventLog: EventLog;
  private readonly rescheduleResets: Coalescer<string | null>;
  private readonly tableFullRejects: Coalescer<"full">;
  private readonly vip: Server;
  private vipPort = 0;
  private admin: AdminServer | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;
  private readonly flow: FlowContext;

  private constructor(
    config: DeviceConfig,
    private readonly log: (line: string) => void,
  ) {
    this.cfg = config;
    this.scheduler = createScheduler(config.scheduler);
    this.eventLog = new EventLog(2000, (err) => this.log(`event listener failed: ${String(err)}`));
    this.rescheduleResets = new Coalescer(1000, (server, count) =>
      this.eventLog.emit({ type: "session.reset", server, reason: "resetOnReschedule", count }),
    );
    this.tableFullRejects = new Coalescer(1000, (_key, rejected) => {
      this.eventLog.emit({ type: "sessions.full", maxSessions: this.cfg.maxSessions, rejected });
      this.log(`session table full (${this.cfg.maxSessions}): ${rejected} new flows reset`);
    });
    this.flow = {
      totals: this.totals,
      drop: (pair, reason) => {
        this.table.drop(pair, reason);
      },
      readmit: (pair) => this.readmit(pair),
      released: (pair) => {
        this.table.drop(pair, "stopped");
        if (this.pairs.delete(pair)) this.totals.connectionsOpen--;
      },
    };
    this.vip = createServer({ allowHalfOpen: true, noDelay: true }, this.onConnection);
  }

  static async start(opts: L4DeviceOptions = {}): Promise<L4Device> {
    const config = parseDeviceConfig(opts.config ?? {});
    const specs = (opts.servers ?? []).map((spec, i) => {
      try {
        return parseServerSpec(spec);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        throw new ConfigError(
          err.issues.map((issue) => ({
            ...issue,
            field: `servers.${i}${issue.field ? `.${issue.field}` : ""}`,
          })),
          { cause: err },
        );
      }
    });
    const device = new L4Device(config, opts.log ?? noop);
    try {
      await device.listen();
      for (const spec of specs) device.addServer(spec);
    } catch (err) {
      await device.stop();
      throw err;
    }
    return device;
  }

  get config(): DeviceConfig {
    return this.cfg;
  }

  get vipUrl(): string {
    return `http://${hostPort(this.cfg.vip.host, this.vipPort)}`;
  }

  get adminUrl(): string {
    return `http://${hostPort(this.cfg.admin.host, this.admin?.port ?? 0)}`;
  }

  addServer(spec: RealServerSpec): ServerView {
    const parsed = parseServerSpec(spec);
    if (this.serversByName.has(parsed.name)) {
      throw new ConfigError([{ field: "name", message: `a server named ${parsed.name} exists` }], {
        code: "conflict",
      });
    }
    for (const s of this.serversByName.values()) {
      if (s.host === parsed.host && s.port === parsed.port) {
        throw new ConfigError(
          [{ field: "port", message: `${parsed.host}:${parsed.port} is already ${s.name}` }],
          {
            code: "conflict",
          },
        );
      }
    }
    const server = new RealServer(parsed);
    this.serversByName.set(server.name, server);
    const monitor = new HealthMonitor(server, () => this.checkTiming(), this.onCheckResult);
    this.monitors.set(server, monitor);
    this.eventLog.emit({
      type: "server.added",
      server: server.name,
      host: server.host,
      port: server.port,
      weight: server.weight,
    });
    this.log(`server ${server.name} added (${server.host}:${server.port}, weight ${server.weight})`);
    if (!this.stopping) monitor.start();
    return server.view();
  }

  /**
   * Takes a server out of the binding list. Its entries are forgotten, but nothing is reset: its open
   * connections keep flowing to it until they end.
   */
  removeServer(name: string): void {
    const server = this.mustGet(name);
    server.removed = true;
    this.monitors.get(server)?.stop();
    this.monitors.delete(server);
    this.serversByName.delete(name);
    let dropped = 0;
    for (const pair of this.table.list(server)) {
      if (this.table.drop(pair, "removed")) dropped++;
      pair.untrack();
    }
    this.refreshBound();
    this.eventLog.emit({ type: "server.removed", server: name, sessionsDropped: dropped });
    this.log(`server ${name} removed (${dropped} session entries dropped)`);
  }

  /** Disable takes effect for new flows at once; existing sessions keep flowing (a graceful drain). */
  setAdminState(name: string, state: AdminState): ServerView {
    const server = this.mustGet(name);
    if (state !== "enabled" && state !== "disabled") {
      throw new ConfigError([{ field: "adminState", message: "must be enabled or disabled" }]);
    }
    const from = server.adminState;
    if (from !== state) {
      server.adminState = state;
      server.sinceMs = Date.now();
      this.refreshBound();
      this.eventLog.emit({ type: "server.admin", server: name, from, to: state });
      this.log(`server ${name} ${state}`);
    }
    return server.view();
  }

  updateConfig(patch: DeepPartialConfig): DeviceConfig {
    const before = this.cfg;
    const next = applyConfigPatch(before, patch);
    const fields = changedFields(before, next);
    if (fields.length === 0) return before;
    this.cfg = next;
    if (next.scheduler !== before.scheduler) this.scheduler = createScheduler(next.scheduler);
    if (next.healthCheck.intervalSeconds !== before.healthCheck.intervalSeconds) {
      for (const monitor of this.monitors.values()) monitor.reschedule();
    }
    if (next.sessionIdleTimeoutSeconds !== before.sessionIdleTimeoutSeconds) this.startSweeper();
    this.eventLog.emit({ type: "config.changed", fields, config: next });
    this.log(`config changed: ${fields.join(", ")}`);
    return next;
  }

  servers(): ServerView[] {
    return [...this.serversByName.values()].map((s) => s.view());
  }

  server(name: string): ServerView | undefined {
    return this.serversByName.get(name)?.view();
  }

  /** Session table entries, optionally of one server only, at most `limit` of them. */
  sessions(server?: string, limit = Number.POSITIVE_INFINITY): SessionView[] {
    let only: RealServer | undefined;
    if (server !== undefined) {
      only = this.serversByName.get(server);
      if (!only) return [];
    }
    const now = Date.now();
    const out: SessionView[] = [];
    for (const entry of this.table.list(only)) {
      if (out.length >= limit) break;
      out.push(sessionView(entry, now));
    }
    return out;
  }

  counters(): CountersView {
    const servers: Record<string, ServerCounters> = {};
    for (const s of this.serversByName.values()) servers[s.name] = { ...s.counters };
    return { totals: { ...this.totals }, servers };
  }

  /** Events with `seq > sinceSeq` still in the ring buffer (the last 2000). */
  events(sinceSeq = 0): DeviceEvent[] {
    return this.eventLog.since(sinceSeq);
  }

  onEvent(listener: (e: DeviceEvent) => void): () => void {
    return this.eventLog.subscribe(listener);
  }

  /** Closes the VIP and the admin API, drops every connection and cancels every timer. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    for (const monitor of this.monitors.values()) monitor.stop();
    clearInterval(this.sweeper);
    this.rescheduleResets.flush();
    this.tableFullRejects.flush();
    const vipClosed = this.vip.listening
      ? new Promise<void>((resolve) => this.vip.close(() => resolve()))
      : Promise.resolve();
    for (const pair of this.pairs) {
      this.table.drop(pair, "stopped");
      pair.destroy();
    }
    await Promise.all([vipClosed, this.admin?.close()]);
  }

  private async listen(): Promise<void> {
    const { host, port } = this.cfg.vip;
    this.vip.listen(port, host);
    try {
      await once(this.vip, "listening");
    } catch (err) {
      throw new Error(`cannot listen on VIP ${host}:${port}: ${(err as Error).message}`, { cause: err });
    }
    this.vip.on("error", (err) => this.log(`VIP server error: ${err.message}`));
    const addr = this.vip.address();
    this.vipPort = typeof addr === "object" && addr ? addr.port : port;
    this.admin = await startAdminServer(this, this.cfg.admin, this.log);
    this.startSweeper();
    this.log(`VIP ${this.vipUrl}, admin ${this.adminUrl}`);
  }

  private readonly onConnection = (client: Socket): void => {
    client.on("error", noop);
    const ip = client.remoteAddress;
    const port = client.remotePort;
    if (!ip || port === undefined || this.stopping) {
      client.destroy();
      return;
    }
    if (this.table.size >= this.cfg.maxSessions) {
      this.rejectTableFull();
      client.resetAndDestroy();
      return;
    }
    const server = this.pick(ip);
    if (!server) {
      this.totals.noServer++;
      client.resetAndDestroy();
      return;
    }
    client.off("error", noop);
    const pair = new ConnectionPair(this.flow, client, server, hostPort(ip, port), ip);
    this.table.add(pair, server);
    this.pairs.add(pair);
    this.totals.connectionsOpen++;
  };

  /**
   * A flow whose entry aged out sent data: the device treats it as a new
   * flow. Only if the scheduler lands on the server that holds the connection can it go on; any other
   * server has no such connection and would answer RST, which is what the client gets.
   */
  private readmit(pair: ConnectionPair): boolean {
    const target = this.pick(pair.clientIp);
    if (target && target.host === pair.server.host && target.port === pair.server.port) {
      if (this.table.size < this.cfg.maxSessions) {
        this.table.add(pair, target);
        return true;
      }
      this.rejectTableFull();
    } else if (target) {
      target.counters.resetOnReschedule++;
      this.totals.resetOnReschedule++;
      this.rescheduleResets.add(target.name);
    } else {
      this.totals.noServer++;
      this.rescheduleResets.add(null);
    }
    pair.resetClient();
    return false;
  }

  private rejectTableFull(): void {
    this.totals.tableFull++;
    this.tableFullRejects.add("full");
  }

  private pick(clientIp: string): RealServer | undefined {
    return this.bound.length === 0 ? undefined : this.scheduler(clientIp, this.bound);
  }

  private refreshBound(): void {
    this.bound = [...this.serversByName.values()].filter((s) => s.bound);
  }

  private checkTiming(): HealthCheckTiming {
    const hc = this.cfg.healthCheck;
    return {
      intervalMs: scaledMs(this.cfg, hc.intervalSeconds),
      timeoutMs: scaledMs(this.cfg, hc.timeoutSeconds),
      mode: hc.mode,
      path: hc.path,
      expectStatus: hc.expectStatus,
    };
  }

  private readonly onCheckResult = (server: RealServer, result: ProbeResult): void => {
    if (server.removed) return;
    const now = Date.now();
    server.lastCheck = { at: new Date(now).toISOString(), ...result };
    const counter = result.ok ? "checksPassed" : "checksFailed";
    server.counters[counter]++;
    this.totals[counter]++;
    const from = server.health;
    const next = nextHealth(server, result.ok, this.cfg.healthCheck.retryCount);
    server.failStreak = next.failStreak;
    if (next.health === from) return;
    server.health = next.health;
    server.reason = result.detail;
    server.sinceMs = now;
    this.refreshBound();
    this.eventLog.emit({
      type: "server.health",
      server: server.name,
      from,
      to: next.health,
      reason: result.detail,
    });
    this.log(`server ${server.name} ${from} -> ${next.health} (${result.detail})`);
    if (next.health === "failed" && this.cfg.resetOnPortFail) this.resetSessionsOf(server);
  };

  /** resetOnPortFail: every client of the failed server gets a RST, all at once (why operators avoid it). */
  private resetSessionsOf(server: RealServer): void {
    const victims = this.table.list(server);
    for (const pair of victims) {
      this.table.drop(pair, "device");
      pair.resetClient();
    }
    if (victims.length === 0) return;
    this.eventLog.emit({
      type: "session.reset",
      server: server.name,
      reason: "resetOnPortFail",
      count: victims.length,
    });
    this.log(`reset ${victims.length} sessions of failed server ${server.name}`);
  }

  private startSweeper(): void {
    clearInterval(this.sweeper);
    if (this.stopping) return;
    this.sweeper = setInterval(() => {
      this.table.sweep(scaledMs(this.cfg, this.cfg.sessionIdleTimeoutSeconds));
    }, sweepPeriodMs(this.cfg));
    this.sweeper.unref();
  }

  private mustGet(name: string): RealServer {
    const server = this.serversByName.get(name);
    if (!server) throw new UnknownServerError(name);
    return server;
  }
}
