import { EbbError, type Executor, type Target } from "@ebb/core";
import { z } from "zod";
import { LocalExecutor } from "./local/local-executor.js";
import { type KeySources, resolveKeyReference } from "./ssh/key-reference.js";
import { SshExecutor } from "./ssh/ssh-executor.js";

/** A target's executor config when its executor is `local`. */
export const localExecutorConfigSchema = z.strictObject({
  cwd: z.string().min(1).optional(),
  /** Added to the worker's base environment for every command on this target. */
  env: z.record(z.string(), z.string()).optional(),
});
export type LocalExecutorConfig = z.infer<typeof localExecutorConfigSchema>;

/** A target's executor config when its executor is `ssh`: a key REFERENCE, never the key. */
export const sshExecutorConfigSchema = z.strictObject({
  /** Default: the target's host. */
  host: z.string().min(1).optional(),
  /** Default 22 (the target's own port is its service port, not sshd's). */
  port: z.number().int().min(1).max(65535).optional(),
  user: z.string().min(1),
  /** `file:/absolute/path` or `env:NAME` (see resolveKeyReference). Never the key itself. */
  keyRef: z
    .string()
    .regex(
      /^(file:\/\S+|env:[A-Za-z_][A-Za-z0-9_]*)$/,
      "must be a reference to the key (file:/absolute/path or env:NAME), never the key itself",
    ),
  /** The pinned host key: `ssh-ed25519 AAAA...` or a known_hosts line. */
  hostKey: z.string().min(1),
  /**
   * Each command runs under flock(1) on a per-target lock in `$HOME/.ebb/locks` and timeout(1) a little
   * after its deadline, on the host. `false` for a host without them (no lock, no deadline after a worker
   * crash).
   */
  supervise: z.boolean().default(true),
});
export type SshExecutorConfig = z.infer<typeof sshExecutorConfigSchema>;

/** What the worker provides once, at its entry, for every executor it creates. */
export interface ExecutorDeps {
  /** Local: the environment commands start from (see baseEnvFrom). */
  baseEnv?: Readonly<Record<string, string>>;
  /** Local: serialise commands per target across workers (flock). */
  lockDir?: string;
  /** Ssh: where key references may be resolved. */
  keySources?: KeySources;
  connectTimeoutMs?: number;
  /** Between the deadline's kill and giving up on the command. */
  killGraceMs?: number;
}

/**
 * The executor for a target, from its executor kind and its (untrusted, stored) executor config. Async
 * because an ssh key reference is resolved here, so a bad reference fails before any step runs. Errors
 * are EbbError `param_invalid` naming the target and the field.
 */
export async function createExecutor(
  target: Target,
  config: unknown,
  deps: ExecutorDeps = {},
): Promise<Executor> {
  switch (target.executor) {
    case "local": {
      const c = parse(target, localExecutorConfigSchema, config ?? {});
      return new LocalExecutor({
        baseEnv: { ...deps.baseEnv, ...c.env },
        ...(c.cwd !== undefined ? { cwd: c.cwd } : {}),
        ...(deps.lockDir !== undefined ? { lockDir: deps.lockDir, target: target.name } : {}),
        ...(deps.killGraceMs !== undefined ? { killGraceMs: deps.killGraceMs } : {}),
      });
    }
    case "ssh": {
      const c = parse(target, sshExecutorConfigSchema, config);
      let privateKey: Buffer;
      try {
        privateKey = await resolveKeyReference(c.keyRef, deps.keySources);
      } catch (err) {
        throw new EbbError(
          "param_invalid",
          `target ${target.name}: executor.keyRef: ${(err as Error).message}`,
          {
            cause: err,
            details: [{ field: "executor.keyRef", message: (err as Error).message }],
          },
        );
      }
      return new SshExecutor({
        host: c.host ?? target.host,
        port: c.port ?? 22,
        username: c.user,
        privateKey,
        hostKey: c.hostKey,
        ...(c.supervise ? { supervise: { lockName: target.name } } : {}),
        ...(deps.connectTimeoutMs !== undefined ? { connectTimeoutMs: deps.connectTimeoutMs } : {}),
        ...(deps.killGraceMs !== undefined ? { killGraceMs: deps.killGraceMs } : {}),
      });
    }
    default: {
      const kind: never = target.executor;
      throw new EbbError(
        "param_invalid",
        `target ${target.name}: unknown executor kind ${JSON.stringify(kind)}`,
      );
    }
  }
}

function parse<T>(target: Target, schema: z.ZodType<T>, config: unknown): T {
  const parsed = schema.safeParse(config);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((issue) => {
    const path = issue.code === "unrecognized_keys" ? [...issue.path, issue.keys.join(",")] : issue.path;
    return { field: ["executor", ...path.map(String)].join("."), message: issue.message };
  });
  const text = issues.map((i) => `${i.field}: ${i.message}`).join("; ");
  throw new EbbError(
    "param_invalid",
    `target ${target.name}: invalid ${target.executor} executor config: ${text}`,
    {
      details: issues,
    },
  );
}
