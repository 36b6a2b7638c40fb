import {
  type Balancer,
  type BalancerAdmin,
  type BalancerEvents,
  type BalancerTargetState,
  type BalancerTiming,
  EbbError,
  type Finding,
  isEbbError,
  type Target,
  type TargetObservation,
  type TargetSnapshot,
  type TrafficSample,
} from "@ebb/core";

/** One device of a fleet's balancer (a node of an HA pair, one of two HAProxy nodes behind DNS). */
export interface BalancerMember {
  name: string;
  balancer: Balancer;
}

/**
 * A fleet behind several balancer members. Every member must agree before a wait proceeds: a target is
 * unbound only when no member sends it new flows, and bound (up) only when every member does. Members that
 * disagree read as `suspect` and bound, which satisfies neither wait. A member that cannot be reached makes
 * the check fail as retryable, naming the member: the step waits and says which one, and never proceeds
 * on partial knowledge. Traffic is the sum over members, with each member's share.
 */
export class MemberBalancer implements Balancer {
  readonly kind: Balancer["kind"];
  readonly admin?: BalancerAdmin;
  readonly events?: BalancerEvents;
  readonly vipUrl?: string;

  constructor(readonly members: readonly BalancerMember[]) {
    const first = members[0];
    if (!first) throw new EbbError("param_invalid", "a fleet's balancer needs at least one member");
    this.kind = first.balancer.kind;
    if (first.balancer.vipUrl !== undefined) this.vipUrl = first.balancer.vipUrl;
    // Only when every member has it: a capability of some members would act on (or hear from) a part.
    if (members.every((m) => m.balancer.admin)) {
      this.admin = {
        disable: (t) => this.onEvery((m) => m.balancer.admin!.disable(t)).then(() => {}),
        enable: (t) => this.onEvery((m) => m.balancer.admin!.enable(t)).then(() => {}),
      };
    }
    if (members.every((m) => m.balancer.events)) {
      this.events = {
        watch: (onChange) => {
          const stops = members.map((m) => m.balancer.events!.watch(onChange));
          return () => {
            for (const stop of stops) stop();
          };
        },
      };
    }
  }

  /** The slowest member's timing: a step's deadline must cover the last member to notice. */
  async timing(): Promise<BalancerTiming> {
    const all = await this.onEvery((m) => m.balancer.timing());
    const detection = (t: BalancerTiming) => t.healthCheckIntervalMs * (t.retryCount + 1) + t.checkTimeoutMs;
    const slowest = all.reduce((a, b) => (detection(b) > detection(a) ? b : a));
    return {
      ...slowest,
      sessionIdleTimeoutMs: Math.max(...all.map((t) => t.sessionIdleTimeoutMs)),
    };
  }

  async observe(target: Target): Promise<TargetObservation> {
    const seen = await this.onEvery((m) => m.balancer.observe(target));
    const members = Object.fromEntries(
      this.members.map((m, i) => [
        m.name,
        { state: seen[i]!.state, bound: seen[i]!.bound, sessions: seen[i]!.sessions },
      ]),
    );
    const sessions = seen.reduce((n, o) => n + o.sessions, 0);
    const states = new Set(seen.map((o) => o.state));
    const bound = seen.map((o) => o.bound);
    if (states.size === 1 && bound.every((b) => b === bound[0]))
      return { state: seen[0]!.state, bound: bound[0]!, sessions, members };
    // Disagreement: still bound somewhere (new flows may arrive), not up everywhere.
    const anyBound = bound.some(Boolean);
    const state: BalancerTargetState = anyBound ? "suspect" : "failed";
    return { state, bound: anyBound, sessions, members };
  }

  async traffic(target: Target): Promise<TrafficSample> {
    const samples = await this.onEvery((m) => m.balancer.traffic(target));
    const sum = (pick: (s: TrafficSample) => number | undefined) =>
      samples.reduce((n, s) => n + (pick(s) ?? 0), 0);
    const requests = samples.some((s) => s.requests !== undefined)
      ? { requests: sum((s) => s.requests) }
      : {};
    return {
      at: new Date().toISOString(),
      activeSessions: sum((s) => s.activeSessions),
      newSessions: sum((s) => s.newSessions),
      resets: sum((s) => s.resets),
      ...requests,
      members: Object.fromEntries(this.members.map((m, i) => [m.name, samples[i]!])),
    };
  }

  async snapshot(targets: readonly Target[]): Promise<TargetSnapshot[]> {
    const perMember = await this.onEvery(async (m) =>
      m.balancer.snapshot
        ? m.balancer.snapshot(targets)
        : Promise.all(
            targets.map(async (t): Promise<TargetSnapshot> => {
              const o = await m.balancer.observe(t);
              return {
                name: t.name,
                state: o.state,
                bound: o.bound,
                sessions: o.sessions,
                sessionsOpened: 0,
                resets: 0,
              };
            }),
          ),
    );
    return targets.map((t, i) => {
      const views = perMember.map((list) => list[i]!);
      const agree = new Set(views.map((v) => `${v.state}/${v.bound}`)).size === 1;
      const anyBound = views.some((v) => v.bound);
      const total = (pick: (v: TargetSnapshot) => number | undefined) =>
        views.reduce((n, v) => n + (pick(v) ?? 0), 0);
      return {
        name: t.name,
        state: agree ? views[0]!.state : anyBound ? "suspect" : "failed",
        bound: agree ? views[0]!.bound : anyBound,
        sessions: total((v) => v.sessions),
        sessionsOpened: total((v) => v.sessionsOpened),
        resets: total((v) => v.resets),
        ...(views.some((v) => v.requests !== undefined) ? { requests: total((v) => v.requests) } : {}),
        ...(views.some((v) => v.refused !== undefined) ? { refused: total((v) => v.refused) } : {}),
        members: Object.fromEntries(
          this.members.map((m, j) => {
            const { name: _name, members: _nested, ...view } = views[j]!;
            return [m.name, view];
          }),
        ),
      };
    });
  }

  /** Every member's own findings, each naming its member. */
  async preflight(targets: readonly Target[]): Promise<Finding[]> {
    const all = await this.onEvery(async (m) => (m.balancer.preflight ? m.balancer.preflight(targets) : []));
    return all.flatMap((findings, i) =>
      findings.map((f) => ({ ...f, message: `balancer member ${this.members[i]!.name}: ${f.message}` })),
    );
  }

  /** Runs `fn` on every member; one that fails makes the whole fail, naming it (retryable if it was). */
  private async onEvery<T>(fn: (m: BalancerMember) => Promise<T>): Promise<T[]> {
    const results = await Promise.allSettled(this.members.map(fn));
    const failures = results.flatMap((r, i) =>
      r.status === "rejected" ? [{ member: this.members[i]!, err: r.reason }] : [],
    );
    if (failures.length > 0) {
      const { member, err } = failures[0]!;
      const message = `balancer member ${member.name}: ${(err as Error).message ?? String(err)}`;
      throw isEbbError(err)
        ? new EbbError(err.code, message, { cause: err, retryable: err.retryable, details: err.details })
        : new EbbError("balancer_unavailable", message, { cause: err });
    }
    return results.map((r) => (r as PromiseFulfilledResult<T>).value);
  }
}
