import {
  type Balancer,
  type BalancerAdmin,
  type BalancerEvents,
  type BalancerTargetState,
  type BalancerTiming,
  EbbError,
  errorFinding,
  type Finding,
  type Target,
  type TargetObservation,
  type TargetSnapshot,
  type TrafficSample,
  warningFinding,
} from "@ebb/core";
import { unknownSnapshot } from "../shared/unknown-target.js";
import { HAPROXY_DEFAULT_TIMING, type HaproxyConfig, parseHaproxyConfig } from "./config.js";
import { StatPoller, type StatReading } from "./poller.js";
import { DEFAULT_COMMAND_TIMEOUT_MS, RuntimeApiClient } from "./runtime-api.js";
import { parseServersState, type ServerStat, type ServerState, stateOfStatus } from "./stats.js";

export interface HaproxyBalancerOptions {
  /** The fleet's balancerConfig (validated here; errors name the fleet and `balancerConfig.<field>`). */
  config: unknown;
  fleetName?: string;
  /** One line per notable event; never called with secrets. */
  log?: (line: string) => void;
  now?: () => number;
}

/** The admin state `disable()` sets: DRAIN keeps established (and persistent) sessions, MAINT cuts new ones. */
export type HaproxyAdminState = "ready" | "drain" | "maint";

const DEFAULT_POLL_MS = 200;
/** TCP mode's idle relay time when the fleet does not declare `timeout client`/`server`. */
const DEFAULT_IDLE_MS = 30_000;

/**
 * Real HAProxy through its Runtime API. Targets are the servers of one backend (by name, or mapped in
 * balancerConfig.servers). What it reports is what counts: a target is out when HAProxy says DOWN,
 * DRAIN or MAINT, and quiet when its `scur` is 0 and `stot` stopped growing.
 */
export class HaproxyBalancer implements Balancer {
  readonly kind = "haproxy" as const;
  readonly config: HaproxyConfig;
  readonly client: RuntimeApiClient;
  private readonly poller: StatPoller;
  private readonly baselines = new Map<string, { stot: number; req?: number; errors: number }>();
  private readonly targetOf = new Map<string, string>();
  private readonly log: (line: string) => void;

  constructor(options: HaproxyBalancerOptions) {
    this.config = parseHaproxyConfig(options.config, options.fleetName);
    this.client = new RuntimeApiClient(
      this.config.socket,
      this.config.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
    );
    this.poller = new StatPoller(
      this.client,
      this.config.backend,
      this.config.pollIntervalMs ?? DEFAULT_POLL_MS,
      options.now,
    );
    for (const [target, server] of Object.entries(this.config.servers ?? {}))
      this.targetOf.set(server, target);
    this.log = options.log ?? (() => {});
  }

  /** Capability: the VIP, for http.check `via: vip`. */
  get vipUrl(): string | undefined {
    return this.config.vipUrl;
  }

  /** Capability: DRAIN / READY through the Runtime API, each verified by reading the admin state back. */
  readonly admin: BalancerAdmin = {
    disable: (target) => this.setState(target, "drain"),
    enable: (target) => this.setState(target, "ready"),
  };

  /** Capability: changes, from the shared poll (HAProxy 2.6 has no event stream). */
  readonly events: BalancerEvents = { watch: (onChange) => this.watch(onChange) };

  serverOf(target: Target | string): string {
    const name = typeof target === "string" ? target : target.name;
    return this.config.servers?.[name] ?? name;
  }

  /**
   * rise and fall as HAProxy reports them (check_rise/check_fall of the backend's servers: the largest,
   * which bounds every drain); inter, `timeout check` and idle timeouts from the declaration, HAProxy's
   * defaults otherwise; a check interval observed during a drain wins over the declaration.
   */
  async timing(): Promise<BalancerTiming> {
    const reading = await this.poller.read();
    const declared = this.config.timing ?? {};
    const stats = [...reading.servers.values()];
    const reported = (pick: (s: ServerStat) => number | undefined) => {
      const values = stats.map(pick).filter((v): v is number => v !== undefined && v > 0);
      return values.length > 0 ? Math.max(...values) : undefined;
    };
    const fall = reported((s) => s.checkFall) ?? declared.fall ?? HAPROXY_DEFAULT_TIMING.fall;
    const rise = reported((s) => s.checkRise) ?? declared.rise ?? HAPROXY_DEFAULT_TIMING.rise;
    const inter = declared.interMs ?? this.poller.observedInterMs() ?? HAPROXY_DEFAULT_TIMING.interMs;
    const l7 = stats.some((s) => s.checkStatus.startsWith("L7"));
    const l4 = stats.some((s) => /^L[46]/.test(s.checkStatus));
    return {
      healthCheckIntervalMs: inter,
      // Core counts the failures after the first; HAProxy marks DOWN at the `fall`-th consecutive one.
      retryCount: fall - 1,
      riseCount: rise,
      checkTimeoutMs: declared.checkTimeoutMs ?? inter,
      sessionIdleTimeoutMs: declared.idleTimeoutMs ?? DEFAULT_IDLE_MS,
      mode: l7 ? "l7" : l4 ? "l4" : (declared.check ?? "l7"),
      // HAProxy only kills a DOWN server's sessions with `on-marked-down shutdown-sessions`, which Ebb
      // cannot read; the docs ask operators not to set it on drained backends.
      resetOnPortFail: false,
    };
  }

  async observe(target: Target): Promise<TargetObservation> {
    const stat = this.statOf(await this.poller.read(), target);
    const { state, bound } = stateOf(stat);
    return {
      state,
      bound,
      ...(stat.lastchg !== undefined
        ? { since: new Date(Date.now() - stat.lastchg * 1000).toISOString() }
        : {}),
      sessions: stat.scur,
    };
  }

  /** `set server <backend>/<server> state drain`, verified by reading the admin state back. */
  async disable(target: Target): Promise<void> {
    await this.setState(target, "drain");
  }

  async enable(target: Target): Promise<void> {
    await this.setState(target, "ready");
  }

  async setState(target: Target, state: HaproxyAdminState): Promise<void> {
    const server = this.serverOf(target);
    try {
      await this.client.command(`set server ${this.config.backend}/${server} state ${state}`);
    } catch (err) {
      throw this.rename(err, target);
    } finally {
      this.poller.invalidate();
    }
    const seen = await this.serverState(target);
    if (seen.admin !== state) {
      throw new EbbError(
        "verify_failed",
        `HAProxy did not set ${this.config.backend}/${server} to ${state}: its admin state reads ${seen.admin} (srv_admin_state ${seen.adminState})`,
        { details: { target: target.name, expected: state, actual: seen.admin } },
      );
    }
    this.log(`haproxy: ${this.config.backend}/${server} state ${state}`);
  }

  /** The admin state (`show servers state <backend>`): what DRAIN/MAINT was set, even on a DOWN server. */
  async serverState(target: Target): Promise<ServerState> {
    const server = this.serverOf(target);
    let answer: string;
    try {
      answer = await this.client.command(`show servers state ${this.config.backend}`);
    } catch (err) {
      throw this.rename(err, target);
    }
    const found = parseServersState(answer).find((s) => s.server === server);
    if (!found) throw this.unknownServer(target);
    return found;
  }

  /**
   * Counters since the previous sample of this target: new sessions are `stot`'s growth, requests
   * `req_tot`'s (HTTP mode), resets the growth of connection and response errors (HAProxy has no RST
   * counter; these are the sessions a client saw fail).
   */
  async traffic(target: Target): Promise<TrafficSample> {
    const reading = await this.poller.read();
    const stat = this.statOf(reading, target);
    const before = this.baselines.get(target.name);
    const now = {
      stot: stat.stot,
      errors: stat.errors,
      ...(stat.reqTot !== undefined ? { req: stat.reqTot } : {}),
    };
    this.baselines.set(target.name, now);
    return {
      at: new Date(reading.atMs).toISOString(),
      activeSessions: stat.scur,
      newSessions: delta(before?.stot, now.stot),
      resets: delta(before?.errors, now.errors),
      ...(now.req !== undefined ? { requests: delta(before?.req, now.req) } : {}),
    };
  }

  /** Every target from one `show stat`; a target HAProxy does not have reads `unknown`. */
  async snapshot(targets: readonly Target[]): Promise<TargetSnapshot[]> {
    const reading = await this.poller.read();
    return targets.map((target) => {
      const stat = reading.servers.get(this.serverOf(target));
      if (!stat) return unknownSnapshot(target.name);
      const { state, bound } = stateOf(stat);
      return {
        name: target.name,
        state,
        bound,
        sessions: stat.scur,
        sessionsOpened: stat.stot,
        resets: stat.errors,
        ...(stat.reqTot !== undefined ? { requests: stat.reqTot } : {}),
      };
    });
  }

  /**
   * Capability `events`: HAProxy 2.6 has no event stream, so this polls (one `show stat` per tick for the
   * whole backend) and calls `onChange(target)` when a target's status, session count or session total
   * changed. The returned function stops it.
   */
  watch(onChange: (target: string) => void): () => void {
    return this.poller.subscribe((reading, previous) => {
      for (const [server, stat] of reading.servers) {
        const before = previous?.servers.get(server);
        if (before && before.status === stat.status && before.scur === stat.scur && before.stot === stat.stot)
          continue;
        onChange(this.targetOf.get(server) ?? server);
      }
    });
  }

  /**
   * Preflight findings only HAProxy can give: the backend and every target's server exist (errors naming
   * them), and the timing it reports (rise, fall) or a drain observed (inter) matches the fleet's
   * declaration (warnings naming both numbers).
   */
  async preflight(targets: readonly Target[]): Promise<Finding[]> {
    const { backend } = this.config;
    const reading = await this.poller.read(0);
    if (reading.backendMissing !== undefined) {
      return [
        errorFinding(
          "balancer_backend_unknown",
          `HAProxy has no backend "${backend}" (balancerConfig.backend): ${reading.backendMissing}`,
        ),
      ];
    }
    const findings: Finding[] = [];
    if (reading.servers.size === 0) {
      findings.push(errorFinding("balancer_backend_unknown", `HAProxy backend "${backend}" has no servers`));
    }
    for (const target of targets) {
      const server = this.serverOf(target);
      if (!reading.servers.has(server)) {
        findings.push(
          errorFinding(
            "balancer_server_unknown",
            `HAProxy backend "${backend}" has no server "${server}" for target ${target.name} (it has: ${[...reading.servers.keys()].join(", ") || "none"})`,
            { target: target.name },
          ),
        );
      }
    }
    findings.push(...this.timingFindings(reading));
    return findings;
  }

  private timingFindings(reading: StatReading): Finding[] {
    const declared = this.config.timing;
    if (!declared) return [];
    const out: Finding[] = [];
    for (const stat of reading.servers.values()) {
      for (const [key, value] of [
        ["fall", stat.checkFall],
        ["rise", stat.checkRise],
      ] as const) {
        const want = declared[key];
        if (want !== undefined && value !== undefined && value !== want) {
          out.push(
            warningFinding(
              "balancer_timing_mismatch",
              `HAProxy reports ${key} ${value} for ${this.config.backend}/${stat.server}; the fleet declares ${key} ${want} (balancerConfig.timing.${key}): Ebb uses HAProxy's`,
            ),
          );
        }
      }
    }
    const seen = this.poller.observedInterMs();
    const inter = declared.interMs;
    // A drain observes the gap between failed checks to within a poll tick (and a little scheduling).
    if (
      seen !== undefined &&
      inter !== undefined &&
      Math.abs(seen - inter) > inter * 0.25 + 2 * this.poller.tickMs
    ) {
      out.push(
        warningFinding(
          "balancer_timing_mismatch",
          `the last drain saw HAProxy check ${this.config.backend} every ${seen} ms; the fleet declares inter ${inter} ms (balancerConfig.timing.interMs)`,
        ),
      );
    }
    return out;
  }

  private statOf(reading: StatReading, target: Target): ServerStat {
    if (reading.backendMissing !== undefined) {
      throw new EbbError(
        "not_found",
        `target ${target.name}: HAProxy has no backend "${this.config.backend}" (balancerConfig.backend)`,
        { details: { target: target.name, backend: this.config.backend } },
      );
    }
    const stat = reading.servers.get(this.serverOf(target));
    if (!stat) throw this.unknownServer(target);
    return stat;
  }

  private unknownServer(target: Target): EbbError {
    return new EbbError(
      "not_found",
      `target ${target.name}: HAProxy backend "${this.config.backend}" has no server "${this.serverOf(target)}"; check the fleet's target names or balancerConfig.servers`,
      { details: { target: target.name, backend: this.config.backend, server: this.serverOf(target) } },
    );
  }

  /** A "No such server/backend" answer, told in terms of the fleet. */
  private rename(err: unknown, target: Target): unknown {
    if (!(err instanceof EbbError) || err.code !== "not_found") return err;
    return new EbbError(
      "not_found",
      `target ${target.name}: ${err.message}; check balancerConfig.backend "${this.config.backend}" and the server name "${this.serverOf(target)}"`,
      { cause: err, details: err.details },
    );
  }
}

/**
 * A server set to DRAIN whose checks also fail reads "DOWN" in `show stat`; the poller then adds the admin
 * state from `show servers state`, and an operator's DRAIN/MAINT wins, as on the L4 device.
 */
function stateOf(stat: ServerStat): { state: BalancerTargetState; bound: boolean } {
  if (stat.admin === "drain" || stat.admin === "maint") return { state: "disabled", bound: false };
  return stateOfStatus(stat.status);
}

function delta(before: number | undefined, now: number): number {
  if (before === undefined) return 0;
  // A counter that went back (HAProxy reloaded) restarts from zero.
  return now >= before ? now - before : now;
}
