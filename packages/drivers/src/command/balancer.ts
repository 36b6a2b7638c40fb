import {
  type Balancer,
  type BalancerAdmin,
  type BalancerTiming,
  type CommandSpec,
  EbbError,
  type Target,
  type TargetObservation,
  type TargetSnapshot,
  type TrafficSample,
} from "@ebb/core";
import { z } from "zod";
import { LocalExecutor } from "../local/local-executor.js";
import { unknownSnapshot } from "../shared/unknown-target.js";

const commandSchema = z.union([
  z.strictObject({ argv: z.array(z.string().min(1)).min(1) }),
  z.strictObject({ script: z.string().min(1) }),
]);
export type BalancerCommand = z.infer<typeof commandSchema>;

/** A fleet's balancerConfig when its balancer is `command`: the operator's own commands for a device. */
export const commandBalancerConfigSchema = z.strictObject({
  /** The Prometheus that scrapes the targets, for analysis steps with `source: prometheus`. */
  prometheusUrl: z.url().optional(),
  /** Takes EBB_TARGET_NAME / EBB_TARGET_HOST / EBB_TARGET_PORT out of service. */
  disable: commandSchema,
  enable: commandSchema,
  /** Prints one JSON object per line: {"name", "bound", "sessions", "requests"?, "state"?} for every target. */
  status: commandSchema,
  /** The device's health-check timing, in real ms (a command cannot report it). */
  timing: z.strictObject({
    intervalMs: z.number().int().positive(),
    retryCount: z.number().int().min(0),
    riseCount: z.number().int().min(1).optional(),
    checkTimeoutMs: z.number().int().positive(),
    idleTimeoutMs: z.number().int().positive(),
    mode: z.enum(["l7", "l4"]).default("l7"),
  }),
  /** More environment for the commands (never secrets: use the worker's environment for those). */
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string()).optional(),
  /** Per command. Default 10000 ms. */
  deadlineMs: z.number().int().positive().optional(),
  vipUrl: z.url().optional(),
});
export type CommandBalancerConfig = z.infer<typeof commandBalancerConfigSchema>;

/** One line of the status command's output. */
export const statusLineSchema = z.strictObject({
  name: z.string().min(1),
  bound: z.boolean(),
  sessions: z.number().int().min(0),
  /** Cumulative requests (or new sessions) the device counted for the target. */
  requests: z.number().int().min(0).optional(),
  /** What the device says when it tells an operator's disable from a failed health check. */
  state: z.enum(["up", "suspect", "failed", "disabled"]).optional(),
});
export type StatusLine = z.infer<typeof statusLineSchema>;

export interface CommandBalancerOptions {
  config: unknown;
  fleetName?: string;
  /** The environment commands start from (PATH, HOME; see baseEnvFrom). */
  baseEnv?: Readonly<Record<string, string>>;
}

/**
 * A balancer Ebb has no driver for (F5 tmsh/iControl, A10, Citrix, cloud target groups), driven through the
 * operator's own commands, run like any local command: argv without a shell (or a script by /bin/sh -c),
 * parameters only as environment variables, a deadline on each. A target whose status line has no `state`
 * reads `up` when bound and `disabled` when not, so `balancer.enable` counts as done only once the device
 * binds it again.
 */
export class CommandBalancer implements Balancer {
  readonly kind = "command" as const;
  readonly config: CommandBalancerConfig;
  private readonly executor: LocalExecutor;
  private readonly baselines = new Map<string, number>();

  constructor(options: CommandBalancerOptions) {
    const parsed = commandBalancerConfigSchema.safeParse(options.config);
    if (!parsed.success) {
      const prefix = options.fleetName === undefined ? "" : `fleet ${options.fleetName}: `;
      const details = parsed.error.issues.map((issue) => {
        const path = issue.code === "unrecognized_keys" ? [...issue.path, issue.keys.join(",")] : issue.path;
        return { field: ["balancerConfig", ...path.map(String)].join("."), message: issue.message };
      });
      throw new EbbError(
        "param_invalid",
        `${prefix}invalid command balancerConfig: ${details.map((d) => `${d.field}: ${d.message}`).join("; ")}`,
        { details },
      );
    }
    this.config = parsed.data;
    this.executor = new LocalExecutor(options.baseEnv ? { baseEnv: options.baseEnv } : {});
  }

  get vipUrl(): string | undefined {
    return this.config.vipUrl;
  }

  readonly admin: BalancerAdmin = {
    disable: async (target) => {
      await this.run("disable", target);
    },
    enable: async (target) => {
      await this.run("enable", target);
    },
  };

  async timing(): Promise<BalancerTiming> {
    const t = this.config.timing;
    return {
      healthCheckIntervalMs: t.intervalMs,
      retryCount: t.retryCount,
      ...(t.riseCount !== undefined ? { riseCount: t.riseCount } : {}),
      checkTimeoutMs: t.checkTimeoutMs,
      sessionIdleTimeoutMs: t.idleTimeoutMs,
      mode: t.mode,
      resetOnPortFail: false,
    };
  }

  async observe(target: Target): Promise<TargetObservation> {
    const line = this.lineOf(await this.status([target]), target);
    return { state: stateOf(line), bound: line.bound, sessions: line.sessions };
  }

  async traffic(target: Target): Promise<TrafficSample> {
    const line = this.lineOf(await this.status([target]), target);
    const before = this.baselines.get(target.name);
    if (line.requests !== undefined) this.baselines.set(target.name, line.requests);
    const grew =
      line.requests === undefined || before === undefined
        ? 0
        : line.requests >= before
          ? line.requests - before
          : line.requests;
    return {
      at: new Date().toISOString(),
      activeSessions: line.sessions,
      newSessions: grew,
      ...(line.requests !== undefined ? { requests: grew } : {}),
      resets: 0,
    };
  }

  async snapshot(targets: readonly Target[]): Promise<TargetSnapshot[]> {
    const lines = await this.status(targets);
    return targets.map((target) => {
      const line = lines.get(target.name);
      if (!line) return unknownSnapshot(target.name);
      return {
        name: target.name,
        state: stateOf(line),
        bound: line.bound,
        sessions: line.sessions,
        sessionsOpened: line.requests ?? 0,
        resets: 0,
        ...(line.requests !== undefined ? { requests: line.requests } : {}),
      };
    });
  }

  /** Runs `status` once for these targets (EBB_TARGETS: their names, comma-separated) and parses it. */
  async status(targets: readonly Target[]): Promise<Map<string, StatusLine>> {
    const out = await this.run("status", undefined, { EBB_TARGETS: targets.map((t) => t.name).join(",") });
    return parseStatusOutput(out);
  }

  private lineOf(lines: Map<string, StatusLine>, target: Target): StatusLine {
    const line = lines.get(target.name);
    if (!line) {
      throw new EbbError(
        "not_found",
        `target ${target.name}: the status command printed no line for it (it printed: ${[...lines.keys()].join(", ") || "nothing"})`,
        { details: { target: target.name } },
      );
    }
    return line;
  }

  private async run(
    which: "disable" | "enable" | "status",
    target: Target | undefined,
    extra: Record<string, string> = {},
  ): Promise<string> {
    const command = this.config[which];
    const env: Record<string, string> = {
      ...this.config.env,
      ...extra,
      ...(target
        ? { EBB_TARGET_NAME: target.name, EBB_TARGET_HOST: target.host, EBB_TARGET_PORT: String(target.port) }
        : {}),
    };
    const spec: CommandSpec = { ...command, env, deadlineMs: this.config.deadlineMs ?? 10_000 };
    let stdout = "";
    const result = await this.executor.run(spec, (chunk, stream) => {
      if (stream === "stdout") stdout += chunk;
    });
    if (result.timedOut || result.exitCode !== 0) {
      const why = result.timedOut
        ? `did not finish within ${spec.deadlineMs} ms`
        : `exited with ${result.exitCode ?? result.signal}`;
      throw new EbbError(
        "balancer_unavailable",
        `the ${which} command (balancerConfig.${which})${target ? ` for ${target.name}` : ""} ${why}: ${result.outputTail.trim().slice(-300)}`,
        { details: { command: which, exitCode: result.exitCode, timedOut: result.timedOut } },
      );
    }
    return stdout;
  }
}

/** One JSON object per non-empty line; a bad line is an error naming the line and the field. */
export function parseStatusOutput(stdout: string): Map<string, StatusLine> {
  const lines = new Map<string, StatusLine>();
  stdout.split("\n").forEach((raw, i) => {
    const text = raw.trim();
    if (text === "") return;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw invalidStatus(`status line ${i + 1} is not JSON: ${text.slice(0, 80)}`, `line ${i + 1}`, err);
    }
    const parsed = statusLineSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const field =
        issue.code === "unrecognized_keys"
          ? issue.keys.join(",")
          : issue.path.map(String).join(".") || "(line)";
      throw invalidStatus(`status line ${i + 1}: ${field}: ${issue.message}`, field);
    }
    lines.set(parsed.data.name, parsed.data);
  });
  return lines;
}

function invalidStatus(message: string, field: string, cause?: unknown): EbbError {
  return new EbbError("balancer_unavailable", `the status command's output is invalid: ${message}`, {
    retryable: false,
    ...(cause ? { cause } : {}),
    details: [{ field: `status.${field}`, message }],
  });
}

function stateOf(line: StatusLine): TargetObservation["state"] {
  return line.state ?? (line.bound ? "up" : "disabled");
}
