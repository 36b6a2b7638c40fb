import {
  type Balancer,
  type BalancerAdmin,
  type BalancerEvents,
  type BalancerFacts,
  type BalancerTargetState,
  type BalancerTiming,
  EbbError,
  type Target,
  type TargetFacts,
  type TargetObservation,
  type TargetSnapshot,
  type TrafficSample,
} from "@ebb/core";
import { z } from "zod";
import { unknownSnapshot } from "../shared/unknown-target.js";
import { AdminClient, DEFAULT_REQUEST_TIMEOUT_MS } from "./admin-client.js";
import { DeviceEventWatch, type L4WatchEvent, type WatchOptions } from "./event-watch.js";
import {
  type DeviceConfigView,
  type DeviceServerView,
  deviceConfigSchema,
  serverListSchema,
  serverViewSchema,
} from "./schemas.js";
import { TrafficMeter } from "./traffic-meter.js";

export interface L4BalancerOptions {
  /** The device's admin API, e.g. `http://127.0.0.1:8081`. */
  adminUrl: string;
  /** Per request (the event stream: until its headers arrive). Default 5000 ms. */
  requestTimeoutMs?: number;
  /** Reconnect behaviour of watch(). */
  watch?: WatchOptions;
  /** The VIP clients use (for http.check `via: vip`), when the fleet declares it. */
  vipUrl?: string;
  /** One line per notable event (stream reconnects); never called with secrets. */
  log?: (line: string) => void;
}

/** What facts() reports: the balancer's facts and, per target, whether the device routes to it now. */
export interface L4FleetFacts {
  balancer: BalancerFacts;
  targets: TargetFacts[];
  /** The device's view of each target by name; `unknown` for a target the device does not have. */
  states: Record<string, BalancerTargetState>;
}

/**
 * The emulated L4 device (packages/l4) through its admin API. Targets are the device's real servers,
 * matched by name. A target the device does not know is a configuration error, not an outage: EbbError
 * `not_found` (core has no `target_unknown` code), not retryable.
 */
export class L4Balancer implements Balancer {
  readonly kind = "l4" as const;
  readonly vipUrl: string | undefined;
  /** The device's admin API takes servers out and in directly. */
  readonly admin: BalancerAdmin = {
    disable: (target) => this.setAdminState(target, "disabled"),
    enable: (target) => this.setAdminState(target, "enabled"),
  };
  /** The device's event stream: health and admin changes of a server ("*" when continuity was lost). */
  readonly events: BalancerEvents = {
    watch: (onChange) =>
      this.watch((e) => {
        if (e.type !== "server.health" && e.type !== "server.admin" && e.server !== "*") return;
        onChange(e.server);
      }),
  };
  private readonly client: AdminClient;
  private readonly meter = new TrafficMeter();
  private readonly watchOptions: Required<WatchOptions>;
  private readonly log: (line: string) => void;

  constructor(options: L4BalancerOptions) {
    const timeout = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    if (!Number.isFinite(timeout) || timeout <= 0) {
      throw new EbbError(
        "param_invalid",
        `requestTimeoutMs must be a positive number (got ${String(timeout)})`,
      );
    }
    this.client = new AdminClient(options.adminUrl, timeout);
    this.watchOptions = {
      initialBackoffMs: options.watch?.initialBackoffMs ?? 250,
      maxBackoffMs: options.watch?.maxBackoffMs ?? 10_000,
      idleTimeoutMs: options.watch?.idleTimeoutMs ?? 45_000,
    };
    this.log = options.log ?? (() => {});
    this.vipUrl = options.vipUrl;
  }

  async timing(): Promise<BalancerTiming> {
    return timingOf(await this.client.get("/config", deviceConfigSchema));
  }

  async observe(target: Target): Promise<TargetObservation> {
    return observationOf(await this.server(target));
  }

  async traffic(target: Target): Promise<TrafficSample> {
    const view = await this.server(target);
    return this.meter.sample(target.name, view.counters, new Date());
  }

  /**
   * Calls `onEvent` for every device event (and WATCH_RESYNC when continuity is lost), so a waiting step
   * can re-check the moment the device changes a server instead of polling. Reconnects on its own;
   * the returned function closes the stream.
   */
  watch(onEvent: (e: L4WatchEvent) => void): () => void {
    const watch = new DeviceEventWatch({
      ...this.watchOptions,
      baseUrl: this.client.baseUrl,
      connectTimeoutMs: this.client.requestTimeoutMs,
      log: this.log,
      onEvent,
    });
    watch.start();
    return () => watch.stop();
  }

  /** Every target's counters from one GET /servers; a target the device does not know reads `unknown`. */
  async snapshot(targets: readonly Target[]): Promise<TargetSnapshot[]> {
    const servers = new Map((await this.client.get("/servers", serverListSchema)).map((s) => [s.name, s]));
    return targets.map((target) => {
      const view = servers.get(target.name);
      if (!view) return unknownSnapshot(target.name);
      const c = view.counters;
      return {
        name: target.name,
        state: stateOf(view),
        bound: view.bound,
        sessions: c.sessionsActive,
        sessionsOpened: c.sessionsOpened,
        resets: c.closedByRst + c.resetByDevice + c.resetOnReschedule,
        refused: c.refused,
        requests: c.clientPackets,
      };
    });
  }

  /** BalancerFacts and, per target, whether the device routes new flows to it, from one GET /servers. */
  async facts(targets: readonly Target[]): Promise<L4FleetFacts> {
    const [config, servers] = await Promise.all([
      this.client.get("/config", deviceConfigSchema),
      this.client.get("/servers", serverListSchema),
    ]);
    const byName = new Map(servers.map((s) => [s.name, s]));
    const states: Record<string, BalancerTargetState> = {};
    const facts = targets.map((target): TargetFacts => {
      const view = byName.get(target.name);
      states[target.name] = view ? stateOf(view) : "unknown";
      return {
        name: target.name,
        host: target.host,
        port: target.port,
        inService: view?.bound ?? false,
        labels: { ...target.labels },
      };
    });
    return { balancer: { kind: "l4", timing: timingOf(config) }, targets: facts, states };
  }

  private server(target: Target): Promise<DeviceServerView> {
    return this.client.get(serverPath(target), serverViewSchema, (message) => unknownTarget(target, message));
  }

  /** POST, then read the state back: the call returning is not proof the device applied it. */
  private async setAdminState(target: Target, state: "enabled" | "disabled"): Promise<void> {
    const action = state === "disabled" ? "disable" : "enable";
    await this.client.post(`${serverPath(target)}/${action}`, z.unknown(), (message) =>
      unknownTarget(target, message),
    );
    const view = await this.server(target);
    if (view.adminState !== state) {
      throw new EbbError(
        "verify_failed",
        `L4 device did not ${action} ${target.name}: its admin state reads ${view.adminState}`,
        { details: { target: target.name, expected: state, actual: view.adminState } },
      );
    }
  }
}

function serverPath(target: Target): string {
  return `/servers/${encodeURIComponent(target.name)}`;
}

function unknownTarget(target: Target, deviceMessage: string): EbbError {
  return new EbbError(
    "not_found",
    `target ${target.name} is not a real server of the L4 device (${deviceMessage}); check the fleet's target names`,
    { details: { target: target.name, reason: "unknown_to_balancer" } },
  );
}

/** Durations in the device's config are vendor seconds; its timeScale says how long they really are. */
function timingOf(config: DeviceConfigView): BalancerTiming {
  const ms = (seconds: number): number => seconds * 1000 * config.timeScale;
  return {
    healthCheckIntervalMs: ms(config.healthCheck.intervalSeconds),
    retryCount: config.healthCheck.retryCount,
    checkTimeoutMs: ms(config.healthCheck.timeoutSeconds),
    sessionIdleTimeoutMs: ms(config.sessionIdleTimeoutSeconds),
    mode: config.healthCheck.mode,
    resetOnPortFail: config.resetOnPortFail,
  };
}

/** An operator's disable wins over health: a disabled server gets no new flows whatever its checks say. */
function stateOf(view: DeviceServerView): BalancerTargetState {
  return view.adminState === "disabled" ? "disabled" : view.health;
}

function observationOf(view: DeviceServerView): TargetObservation {
  return {
    state: stateOf(view),
    bound: view.bound,
    since: view.since,
    sessions: view.counters.sessionsActive,
  };
}
