import type { JobName, JobPayload } from "@ebb/contracts";
import { jobId } from "@ebb/contracts";
import {
  type Balancer,
  type BalancerTargetState,
  type BalancerTiming,
  type CommandSpec,
  createRollout,
  DEFAULT_L4_TIMING,
  EbbError,
  type ExecResult,
  type Executor,
  type Notice,
  parseRunbookOrThrow,
  type RolloutState,
  type Target,
  type TargetObservation,
  type TargetSnapshot,
  type TrafficSample,
} from "@ebb/core";
import {
  type Clock,
  type DriverRegistry,
  Engine,
  type EngineObserver,
  type FleetRecord,
  type JobQueue,
  type JobState,
  type LockedRollout,
  type RolloutStatics,
  type RolloutStore,
  type TargetRecord,
} from "../src/index.js";

/*
 * In-memory implementations of the engine's own ports, for its unit tests. Not of Redis or the database:
 * those keep their real tests (test/engine, test/k8s). Time is a manual clock the queue advances.
 */

export class ManualClock implements Clock {
  constructor(public ms = 1_000_000) {}
  now(): number {
    return this.ms;
  }
}

interface StoredRollout {
  state: RolloutState;
  statics: RolloutStatics;
  approvalPending: boolean;
}

export class MemoryStore implements RolloutStore {
  readonly rollouts = new Map<string, StoredRollout>();
  /** Leases by target name: targets are unique across the test's fleets. */
  readonly leases = new Map<string, { rolloutId: string; token: string }>();
  readonly fleets = new Map<string, FleetRecord>();
  readonly targetRecords = new Map<string, TargetRecord[]>();
  readonly notices: { rolloutId: string; notice: Notice }[] = [];
  /** What each target ran before a rollout (by target name): the rollback's version. */
  readonly previous = new Map<string, string>();
  transactions = 0;
  private nextToken = 100;
  private readonly locks = new Map<string, Promise<unknown>>();

  async withLockedRollout<T>(rolloutId: string, fn: (locked: LockedRollout) => Promise<T>): Promise<T> {
    const previous = this.locks.get(rolloutId) ?? Promise.resolve();
    const run = previous.catch(() => {}).then(() => this.transaction(rolloutId, fn));
    this.locks.set(rolloutId, run);
    return run;
  }

  /** All or nothing: writes go to copies that replace the stored ones only when `fn` resolves. */
  private async transaction<T>(rolloutId: string, fn: (locked: LockedRollout) => Promise<T>): Promise<T> {
    const stored = this.rollouts.get(rolloutId);
    if (!stored) throw new EbbError("not_found", `rollout ${rolloutId} does not exist`);
    this.transactions++;
    const leases = new Map(this.leases);
    let state = stored.state;
    const notices: Notice[] = [];
    const inserted: [string, StoredRollout][] = [];
    const targets = new Map(
      Object.keys(stored.state.targets).map((name) => {
        const l = leases.get(name);
        return [name, { lease: l?.token ?? null, leaseRollout: l?.rolloutId ?? null }];
      }),
    );
    const result = await fn({
      state: stored.state,
      fleet: stored.statics.fleetId,
      targets,
      acquireLease: async (name) => {
        const held = leases.get(name);
        if (held && held.rolloutId !== rolloutId)
          throw new EbbError("conflict", `target ${name} is leased by rollout ${held.rolloutId}`);
        if (held) return held.token;
        const token = String(this.nextToken++);
        leases.set(name, { rolloutId, token });
        return token;
      },
      releaseLease: async (name) => {
        if (leases.get(name)?.rolloutId === rolloutId) leases.delete(name);
      },
      releaseAllLeases: async () => {
        for (const [name, l] of leases) if (l.rolloutId === rolloutId) leases.delete(name);
      },
      save: async (_before, after) => {
        state = after;
      },
      appendNotices: async (list) => {
        notices.push(...list.map((n) => n.notice));
      },
      previousVersions: async (names) =>
        Object.fromEntries(names.map((n) => [n, this.previous.get(n) ?? null])),
      insertRollback: async (rb) => {
        const moving = Object.keys(rb.targets);
        for (const name of moving) {
          const held = leases.get(name);
          if (held && held.rolloutId !== rolloutId)
            throw new EbbError("fleet_held", `target ${name} is held by rollout ${held.rolloutId}`);
        }
        for (const name of moving) {
          const held = leases.get(name);
          leases.set(name, { rolloutId: rb.id, token: held?.token ?? String(this.nextToken++) });
        }
        inserted.push([
          rb.id,
          {
            state: rb,
            approvalPending: false,
            statics: { ...stored.statics, id: rb.id, version: rb.version },
          },
        ]);
      },
    });
    stored.state = state;
    for (const [id, r] of inserted) this.rollouts.set(id, r);
    this.leases.clear();
    for (const [k, v] of leases) this.leases.set(k, v);
    this.notices.push(...notices.map((notice) => ({ rolloutId, notice })));
    return result;
  }

  async currentStep(rolloutId: string, target: string) {
    const stored = this.rollouts.get(rolloutId);
    if (!stored) return undefined;
    const run = stored.state.targets[target] ?? null;
    return { run, planned: run ? (stored.state.steps[run.stepIndex] ?? null) : null };
  }

  async state(rolloutId: string): Promise<RolloutState> {
    const stored = this.rollouts.get(rolloutId);
    if (!stored) throw new EbbError("not_found", `rollout ${rolloutId} does not exist`);
    return stored.state;
  }

  async statics(rolloutId: string) {
    return this.rollouts.get(rolloutId)?.statics;
  }

  async fleet(fleetId: string) {
    return this.fleets.get(fleetId);
  }

  async targets(fleetId: string) {
    return this.targetRecords.get(fleetId) ?? [];
  }

  async approvalsWaitingSince(beforeMs: number) {
    return [...this.rollouts.entries()]
      .filter(([, r]) => r.approvalPending && r.state.status === "pending" && r.state.createdAt < beforeMs)
      .map(([id]) => id);
  }

  async activeRollouts() {
    return [...this.rollouts.entries()]
      .filter(([, r]) =>
        ["pending", "running", "aborting", "failed", "paused", "rolling_back"].includes(r.state.status),
      )
      .filter(([, r]) => !r.approvalPending)
      .map(([id, r]) => ({ id, status: r.state.status }));
  }

  async leaseTokens(rolloutId: string) {
    const tokens: Record<string, string> = {};
    for (const [name, l] of this.leases) if (l.rolloutId === rolloutId) tokens[name] = l.token;
    return tokens;
  }
}

interface QueuedJob {
  id: string;
  name: JobName;
  payload: unknown;
  runAt: number;
  state: JobState;
}

/** A queue whose jobs run when `runUntilIdle` advances the clock to them, one at a time, in time order. */
export class MemoryQueue implements JobQueue {
  readonly jobs = new Map<string, QueuedJob>();
  readonly promoted: string[] = [];
  /** Set by the harness: what runs a job. */
  engine: Engine | undefined;
  /** Called while a job runs (between its check and its return): lets a test change the world mid-check. */
  duringJob: ((job: QueuedJob) => void) | undefined;

  constructor(private readonly clock: ManualClock) {}

  async add<N extends JobName>(name: N, payload: JobPayload<N>, delayMs: number): Promise<void> {
    const id = jobId(name, payload);
    const existing = this.jobs.get(id);
    if (existing && existing.state !== "completed" && existing.state !== "failed") return;
    this.jobs.set(id, {
      id,
      name,
      payload,
      runAt: this.clock.now() + delayMs,
      state: delayMs > 0 ? "delayed" : "waiting",
    });
  }

  async state(id: string): Promise<JobState> {
    return this.jobs.get(id)?.state ?? "missing";
  }

  async remove(id: string): Promise<void> {
    this.jobs.delete(id);
  }

  async promote(id: string): Promise<void> {
    const job = this.jobs.get(id);
    this.promoted.push(id);
    if (job?.state === "delayed") {
      job.state = "waiting";
      job.runAt = this.clock.now();
    }
  }

  /** Jobs still to run, by name. */
  pending(name?: JobName): QueuedJob[] {
    return [...this.jobs.values()].filter(
      (j) => (j.state === "waiting" || j.state === "delayed") && (name === undefined || j.name === name),
    );
  }

  /** Runs jobs in time order, moving the clock forward to each, until none is left or `until` holds. */
  async runUntilIdle(opts: { until?: () => boolean; maxJobs?: number; maxMs?: number } = {}): Promise<void> {
    const stopAt = this.clock.now() + (opts.maxMs ?? 3_600_000);
    for (let n = 0; n < (opts.maxJobs ?? 10_000); n++) {
      if (opts.until?.()) return;
      const next = this.pending().sort((a, b) => a.runAt - b.runAt)[0];
      if (!next || next.runAt > stopAt) return;
      this.clock.ms = Math.max(this.clock.ms, next.runAt);
      next.state = "active";
      this.duringJob?.(next);
      try {
        const result = await this.engine!.process({
          name: next.name,
          data: next.payload,
          id: next.id,
          canDelay: true,
        });
        if (result.kind === "delay") {
          next.state = "delayed";
          next.runAt = result.untilMs;
        } else next.state = "completed";
      } catch (err) {
        next.state = "failed";
        throw err;
      }
    }
  }
}

export type Reading = { state: BalancerTargetState; bound: boolean; sessions: number };

/** A balancer the test scripts: what it reports per target, and which capabilities it has. */
export class FakeBalancer implements Balancer {
  readonly kind = "l4" as const;
  readonly readings = new Map<string, Reading>();
  /** Per target, the new sessions each traffic() call reports (then 0). */
  readonly newSessions = new Map<string, number>();
  /** Per target, the sessions ended with RST each traffic() call reports (then 0). */
  readonly resets = new Map<string, number>();
  observeCalls = 0;
  onObserve: ((target: string) => void) | undefined;
  admin?: { disable(t: Target): Promise<void>; enable(t: Target): Promise<void> };
  events?: { watch(onChange: (target: string) => void): () => void };
  /** Cumulative counters (the drain proof's readings), when a test gives the balancer that capability. */
  snapshot?: (targets: readonly Target[]) => Promise<TargetSnapshot[]>;
  private listeners = new Set<(target: string) => void>();

  constructor(
    targets: string[],
    private readonly timingValue: BalancerTiming = DEFAULT_L4_TIMING,
  ) {
    for (const t of targets) this.readings.set(t, { state: "up", bound: true, sessions: 0 });
  }

  withEvents(): this {
    this.events = {
      watch: (onChange) => {
        this.listeners.add(onChange);
        return () => this.listeners.delete(onChange);
      },
    };
    return this;
  }

  /** An admin API whose changes show only when `applies` says so (a device that lags or ignores them). */
  withAdmin(applies: () => boolean = () => true): this {
    const set = (t: Target, state: BalancerTargetState, bound: boolean) => {
      if (applies()) this.set(t.name, { state, bound });
    };
    this.admin = {
      disable: async (t) => set(t, "disabled", false),
      enable: async (t) => set(t, "up", true),
    };
    return this;
  }

  set(target: string, reading: Partial<Reading>): void {
    this.readings.set(target, { ...this.readings.get(target)!, ...reading });
    for (const l of this.listeners) l(target);
  }

  async timing(): Promise<BalancerTiming> {
    return this.timingValue;
  }

  async observe(target: Target): Promise<TargetObservation> {
    this.observeCalls++;
    this.onObserve?.(target.name);
    const r = this.readings.get(target.name);
    if (!r) throw new EbbError("not_found", `no target ${target.name}`);
    return { ...r };
  }

  async traffic(target: Target): Promise<TrafficSample> {
    const r = this.readings.get(target.name)!;
    const n = this.newSessions.get(target.name) ?? 0;
    this.newSessions.set(target.name, 0);
    const resets = this.resets.get(target.name) ?? 0;
    this.resets.set(target.name, 0);
    return { at: new Date().toISOString(), activeSessions: r.sessions, newSessions: n, resets };
  }
}

/** Records every command; `result` scripts the outcome per step id (ebb-vm argv[1] or the env's step). */
export class FakeExecutor implements Executor {
  readonly kind = "local" as const;
  constructor(
    private readonly target: string,
    private readonly log: { target: string; argv: readonly string[] }[],
    private readonly result: (target: string, argv: readonly string[]) => Partial<ExecResult>,
    private readonly onRun: (target: string, argv: readonly string[]) => void,
  ) {}

  async run(cmd: CommandSpec): Promise<ExecResult> {
    const argv = "argv" in cmd ? cmd.argv : ["sh", "-c", cmd.script];
    this.log.push({ target: this.target, argv });
    this.onRun(this.target, argv);
    // As a real executor: a command whose deadline has passed is killed at once.
    if (cmd.deadlineMs <= 1)
      return {
        exitCode: null,
        signal: "SIGKILL",
        timedOut: true,
        durationMs: 1,
        outputTail: "ebb: deadline passed\n",
      };
    return {
      exitCode: 0,
      signal: null,
      timedOut: false,
      durationMs: 5,
      outputTail: "",
      ...this.result(this.target, argv),
    };
  }
}

export const RUNBOOK = `apiVersion: ebb/v1
kind: Runbook
name: t
balancer: l4
steps:
  - { id: fail-health, type: exec, run: [ebb-vm, health, fail] }
  - { id: await-unbound, type: balancer.awaitUnbound }
  - { id: stop, type: exec, run: [ebb-vm, stop] }
  - { id: deploy, type: exec, run: [ebb-vm, deploy] }
  - { id: start, type: exec, run: [ebb-vm, start] }
  - { id: restore-health, type: exec, run: [ebb-vm, health, restore] }
  - { id: await-bound, type: balancer.awaitBound }
`;

/** One fleet, its targets, a rollout over them, and an engine on the in-memory ports. */
export class Harness {
  readonly clock = new ManualClock();
  readonly store = new MemoryStore();
  readonly queue = new MemoryQueue(this.clock);
  readonly commands: { target: string; argv: readonly string[] }[] = [];
  readonly logs: string[] = [];
  execResult: (target: string, argv: readonly string[]) => Partial<ExecResult> = () => ({});
  /** By default the fake world follows the commands: health fail unbinds, health restore binds. */
  onRun: (target: string, argv: readonly string[]) => void;
  readonly engine: Engine;
  readonly balancer: FakeBalancer;
  /** Every observer call, as `hook` + its argument, in order. */
  readonly observed: { hook: string; arg: unknown }[] = [];

  constructor(
    readonly targets: string[] = ["vm1", "vm2"],
    opts: { balancer?: FakeBalancer; followCommands?: boolean; approvalTtlMs?: number } = {},
  ) {
    this.balancer = opts.balancer ?? new FakeBalancer(targets);
    this.onRun = (target, argv) => {
      if (opts.followCommands === false) return;
      if (argv.join(" ") === "ebb-vm health fail")
        this.balancer.set(target, { state: "failed", bound: false });
      if (argv.join(" ") === "ebb-vm health restore") this.balancer.set(target, { state: "up", bound: true });
    };
    this.store.fleets.set("f1", { id: "f1", name: "fleet", balancer: "l4", balancerConfig: {} });
    this.store.targetRecords.set(
      "f1",
      targets.map((name, i) => ({
        id: `t-${name}`,
        name,
        host: `127.0.0.${11 + i}`,
        port: 8080,
        executor: "local",
        executorConfig: {},
        labels: {},
      })),
    );
    const drivers: DriverRegistry = {
      balancer: () => this.balancer,
      executor: async (t) =>
        new FakeExecutor(
          t.name,
          this.commands,
          (a, b) => this.execResult(a, b),
          (a, b) => this.onRun(a, b),
        ),
    };
    this.engine = new Engine({
      store: this.store,
      queue: this.queue,
      drivers,
      clock: this.clock,
      log: (line) => this.logs.push(line),
      observers: [recordingObserver(this.observed)],
      ...(opts.approvalTtlMs === undefined ? {} : { approvalTtlMs: opts.approvalTtlMs }),
    });
    this.queue.engine = this.engine;
  }

  /** A pending rollout of every target, one per batch, of `source`. */
  addRollout(id = "00000000-0000-4000-8000-000000000001", source = RUNBOOK, batches?: string[][]): string {
    const runbook = parseRunbookOrThrow(source, "test runbook");
    const state = createRollout({
      id,
      runbook,
      batches: batches ?? this.targets.map((t) => [t]),
      timing: DEFAULT_L4_TIMING,
      version: "2.0.0",
      now: this.clock.now(),
    });
    this.store.rollouts.set(id, {
      state,
      approvalPending: false,
      statics: {
        id,
        fleetId: "f1",
        version: "2.0.0",
        params: {},
        runbookVersionId: `rv-${id}`,
        runbookSource: source,
      },
    });
    return id;
  }

  state(id: string): RolloutState {
    return this.store.rollouts.get(id)!.state;
  }

  /** The commands run, as "target: argv" lines. */
  ran(): string[] {
    return this.commands.map((c) => `${c.target}: ${c.argv.join(" ")}`);
  }
}

/** An observer that writes down every call: the engine's observer port as a test sees it. */
function recordingObserver(into: { hook: string; arg: unknown }[]): EngineObserver {
  const record = (hook: string) => (arg: unknown) => {
    into.push({ hook, arg });
  };
  return {
    rolloutStatusChanged: record("rolloutStatusChanged"),
    stepFinished: record("stepFinished"),
    jobsRecreated: record("jobsRecreated"),
    leaseConflict: record("leaseConflict"),
    drainClientErrors: record("drainClientErrors"),
  };
}
