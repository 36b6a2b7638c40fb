import { isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { parseTrustProxy, type TrustProxy } from "../common/client-address.js";
import { ROLES, type Role } from "./roles.js";

export const LOG_LEVELS = ["error", "warn", "info", "debug"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ["auto", "json", "text"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** The whole configuration of the api/worker process, parsed once at boot. Deeply frozen. */
export interface EbbConfig {
  readonly role: Role;
  /** Where the HTTP API listens; routes live under /api/v1. */
  readonly api: { readonly host: string; readonly port: number };
  /** What `openDatabase()` takes: without a url, `dataDir` is the PGlite folder, `<EBB_DATA_DIR>/pglite`. */
  readonly database: { readonly url?: string; readonly dataDir: string };
  /** No url means we run our own redis-server on 127.0.0.1:embeddedPort, with its files in `dir`. */
  readonly redis: { readonly url?: string; readonly embeddedPort: number; readonly dir: string };
  /** Absolute. Everything Ebb keeps on local disk lives under it. */
  readonly dataDir: string;
  readonly worker: {
    readonly concurrency: number;
    readonly reconcileIntervalMs: number;
    /** How long a job stays locked to its worker without renewal: a killed worker's job moves on after it. */
    readonly lockDurationMs: number;
  };
  /** Absolute. Lock files for work that must not run twice on this host. */
  readonly lockDir: string;
  /** Seeds an admin API token with this value. A secret: never logged (see describeConfig). */
  readonly adminToken?: string;
  /** Created at start when no user exists yet (EBB_ADMIN_USER, EBB_ADMIN_PASSWORD). The password is a secret. */
  readonly firstAdmin?: { readonly username: string; readonly password: string };
  /** Mark the session cookie `Secure` (HTTPS only). Off by default: the lab is plain http. */
  readonly cookieSecure: boolean;
  /** Which proxies' X-Forwarded-For names the client (EBB_TRUST_PROXY): see common/client-address.ts. */
  readonly trustProxy: TrustProxy;
  /** Apply pending migrations at start (EBB_MIGRATE). */
  readonly migrate: boolean;
  readonly limits: {
    readonly approvalTargetThreshold: number;
    /** A rollout waiting this long for a second person's approval is aborted and its targets released. */
    readonly approvalTtlMs: number;
    readonly maxTargetsPerRollout: number;
    readonly rolloutsPerMinute: number;
    readonly maxBodyBytes: number;
  };
  /** Webhook deliveries (apps/api/src/webhooks): retries with exponential backoff, per-request timeout. */
  readonly webhooks: {
    readonly attempts: number;
    readonly backoffMs: number;
    readonly timeoutMs: number;
  };
  readonly logLevel: LogLevel;
  /** auto: JSON lines when stdout is not a terminal, coloured text on one. */
  readonly logFormat: LogFormat;
  /**
   * Where a worker-only process (EBB_ROLE=worker) serves GET /metrics; `port` 0 lets the OS pick one (it is
   * logged), `null` is off. Roles that serve HTTP answer /metrics on the API's own port.
   */
  readonly metrics: { readonly host: string; readonly port: number | null };
  /** OpenTelemetry traces go to this OTLP/HTTP endpoint; unset: no tracing code is even loaded. */
  readonly tracing?: { readonly endpoint: string; readonly serviceName: string };
}

/** The variables that hold secrets (or URLs that may embed one): their values never appear in errors. */
const SECRET_VARIABLES: ReadonlySet<string> = new Set([
  "DATABASE_URL",
  "REDIS_URL",
  "EBB_ADMIN_TOKEN",
  "EBB_ADMIN_PASSWORD",
  "OTEL_EXPORTER_OTLP_ENDPOINT",
]);

const integer = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, "must be a whole number")
    .transform(Number)
    .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const port = integer(1, 65535);

const urlWithScheme = (schemes: readonly string[]) =>
  z.string().refine(
    (value) => {
      try {
        return schemes.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    `must be a URL starting with ${schemes.map((s) => `${s}//`).join(" or ")}`,
  );

/**
 * Every variable the process reads. Defaults are a contract (ARCHITECTURE.md's defaults table): users'
 * scripts rely on them, so change them only with a note in the changelog.
 */
const envSchema = z.object({
  /** all | api | worker. Default all: the lab runs the API and the workers in one process. */
  EBB_ROLE: z.enum(ROLES).default("all"),
  /** The API's listen address. */
  EBB_API_HOST: z
    .string()
    .regex(/^[A-Za-z0-9.:_-]+$/, "must be a host name or an IP address")
    .default("127.0.0.1"),
  /** The API's port; the API is served at http://<host>:<port>/api/v1. */
  EBB_API_PORT: port.default(4000),
  /** PostgreSQL, e.g. postgres://ebb:secret@db:5432/ebb. Unset: embedded PGlite in EBB_DATA_DIR/pglite. */
  DATABASE_URL: urlWithScheme(["postgres:", "postgresql:"]).optional(),
  /** Local state (PGlite, embedded Redis files, locks). Relative paths start at the working directory. */
  EBB_DATA_DIR: z.string().default(".ebb"),
  /** An external Redis, e.g. redis://:secret@cache:6379. Unset: we start redis-server from PATH. */
  REDIS_URL: urlWithScheme(["redis:", "rediss:"]).optional(),
  /**
   * The embedded redis-server's port (127.0.0.1 only). Not 6379, so it never collides with (or, worse,
   * silently reuses) a system Redis that may evict keys.
   */
  EBB_REDIS_PORT: port.default(6390),
  /** Jobs one worker process runs at once. Steps mostly wait on I/O, hence a high default. */
  EBB_WORKER_CONCURRENCY: integer(1, 10_000).default(50),
  /** How often the reconciler re-creates missing jobs from the database. */
  EBB_RECONCILE_INTERVAL_MS: integer(100, 86_400_000).default(10_000),
  /**
   * BullMQ job lock. A worker renews it every half while it runs the job; when a worker dies, its job goes
   * to another worker once the lock expired. Shorter = faster resumption after a crash, more Redis traffic.
   */
  EBB_JOB_LOCK_MS: integer(1_000, 600_000).default(15_000),
  /** Lock files. Default: <EBB_DATA_DIR>/locks. */
  EBB_LOCK_DIR: z.string().optional(),
  /** Seeds an admin API token with this value (scripts, CI). Secret: never logged. */
  EBB_ADMIN_TOKEN: z
    .string()
    .regex(/^\S+$/, "must not contain whitespace")
    .min(16, "must be at least 16 characters (a guessable admin token is worse than none)")
    .optional(),
  /** The first admin's username, created at start when no user exists and EBB_ADMIN_PASSWORD is set. */
  EBB_ADMIN_USER: z
    .string()
    .max(64)
    .regex(/^[a-z0-9._-]+$/, "must be 1-64 of a-z 0-9 . _ -")
    .default("admin"),
  /** The first admin's password. There is no default password. Secret: never logged. */
  EBB_ADMIN_PASSWORD: z.string().min(12, "must be at least 12 characters").max(1024).optional(),
  /** true: the session cookie is `Secure` (the dashboard is served over HTTPS). */
  EBB_COOKIE_SECURE: z.enum(["true", "false"], "must be true or false").default("false"),
  /** Rollouts of more targets than this need a second person's approval (protected fleets always do). */
  EBB_APPROVAL_TARGET_THRESHOLD: integer(1, 100_000).default(20),
  /** A rollout waiting longer for a second person's approval is aborted: its leases must not hold a fleet for ever. */
  EBB_APPROVAL_TTL_MS: integer(1_000, 30 * 86_400_000).default(86_400_000),
  /** The most targets one rollout may cover; a bigger fleet is rolled by several rollouts. */
  EBB_MAX_TARGETS_PER_ROLLOUT: integer(1, 100_000).default(1_000),
  /** Rollout creations per caller per minute; more get 429 with Retry-After. */
  EBB_ROLLOUT_RATE_LIMIT: integer(1, 100_000).default(30),
  /** The largest JSON body the API reads (bytes); runbook sources are the big ones. */
  EBB_MAX_BODY_BYTES: integer(1_024, 16 * 1024 * 1024).default(512 * 1024),
  /**
   * The proxies in front of the API (the dashboard, nginx) whose X-Forwarded-For names the client, for
   * the login throttle and the audit history: false (the socket's address, which a client cannot forge),
   * true (one hop), a number of hops, or a comma-separated list of proxy addresses/CIDRs.
   */
  EBB_TRUST_PROXY: z
    .string()
    .default("false")
    .transform((value, ctx) => {
      const parsed = parseTrustProxy(value);
      if (parsed !== false && "error" in parsed) {
        ctx.addIssue({ code: "custom", message: parsed.error });
        return z.NEVER;
      }
      return parsed;
    }),
  /**
   * false: do not apply migrations at start. Production runs them once, as the schema owner
   * (`migrate-cli.js`, the compose file's `migrate` service), and the app connects as a role that may not
   * change the schema.
   */
  EBB_MIGRATE: z.enum(["true", "false"], "must be true or false").default("true"),
  /** error | warn | info | debug. */
  /** Tries of one webhook delivery, the first included, before it is recorded as failed. */
  EBB_WEBHOOK_ATTEMPTS: integer(1, 100).default(8),
  /** The first retry's delay; each next one doubles it (8 tries: about 10 minutes in all at 5 s). */
  EBB_WEBHOOK_BACKOFF_MS: integer(1, 3_600_000).default(5_000),
  /** How long one delivery waits for the receiver's answer. */
  EBB_WEBHOOK_TIMEOUT_MS: integer(100, 120_000).default(10_000),
  EBB_LOG_LEVEL: z.enum(LOG_LEVELS).default("info"),
  /** auto | json | text. auto: JSON lines when stdout is not a terminal. */
  EBB_LOG_FORMAT: z.enum(LOG_FORMATS).default("auto"),
  /** A worker-only process's /metrics listen address. */
  EBB_METRICS_HOST: z
    .string()
    .regex(/^[A-Za-z0-9.:_-]+$/, "must be a host name or an IP address")
    .default("127.0.0.1"),
  /**
   * A worker-only process's /metrics port: a number, 0 (the OS picks a free one and the start-up line says
   * which: several workers on one host), or `off`. The api and all roles serve /metrics on EBB_API_PORT.
   */
  EBB_METRICS_PORT: z
    .union([z.literal("off"), integer(0, 65535)], "must be a port number, 0 (any free port) or off")
    .default(4001),
  /**
   * OTLP/HTTP collector base URL (the OpenTelemetry variable, e.g. http://127.0.0.1:4318): traces of
   * requests, rollouts and steps go to <url>/v1/traces. Unset: tracing is off and its code is not loaded.
   */
  OTEL_EXPORTER_OTLP_ENDPOINT: urlWithScheme(["http:", "https:"]).optional(),
  /** The `service.name` of the traces. */
  OTEL_SERVICE_NAME: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, "must be 1-64 of A-Z a-z 0-9 . _ -")
    .default("ebb"),
});

export type EnvVariable = keyof z.input<typeof envSchema>;
export const ENV_VARIABLES = Object.keys(envSchema.shape) as EnvVariable[];

export interface ConfigIssue {
  variable: string;
  message: string;
}

/** The environment does not describe a valid configuration. The message names every bad variable. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(
    readonly issues: readonly ConfigIssue[],
    options?: { cause?: unknown },
  ) {
    super(
      `invalid configuration:\n${issues.map((i) => `  ${i.variable}: ${i.message}`).join("\n")}`,
      options,
    );
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object") {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

export interface ParseConfigOptions {
  /** Relative directories resolve against it. Default: process.cwd(). */
  cwd?: string;
}

/**
 * Parses the environment into the typed config. The only reader of the environment is main.ts, which
 * passes `process.env` here; everything else receives the config object.
 */
export function parseConfig(
  env: Readonly<Record<string, string | undefined>>,
  { cwd = process.cwd() }: ParseConfigOptions = {},
): EbbConfig {
  // `VAR=` (as docker-compose and shell scripts often leave it) means "unset", not "empty value".
  const known: Record<string, string> = {};
  for (const name of ENV_VARIABLES) {
    const value = env[name];
    if (value !== undefined && value.trim() !== "") known[name] = value.trim();
  }

  const parsed = envSchema.safeParse(known);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => {
      const variable = String(issue.path[0] ?? "(environment)");
      const shown = SECRET_VARIABLES.has(variable) ? "" : ` (got "${known[variable] ?? ""}")`;
      return { variable, message: `${issue.message}${shown}` };
    });
    // No `cause`: the zod error carries the raw input, secrets included, and causes get logged.
    throw new ConfigError(issues);
  }

  const e = parsed.data;
  const dataDir = resolveDir(cwd, e.EBB_DATA_DIR);
  const pgliteDir = resolve(dataDir, "pglite");
  const config: EbbConfig = {
    role: e.EBB_ROLE,
    api: { host: e.EBB_API_HOST, port: e.EBB_API_PORT },
    database:
      e.DATABASE_URL === undefined ? { dataDir: pgliteDir } : { url: e.DATABASE_URL, dataDir: pgliteDir },
    redis: {
      ...(e.REDIS_URL === undefined ? {} : { url: e.REDIS_URL }),
      embeddedPort: e.EBB_REDIS_PORT,
      dir: resolve(dataDir, "redis"),
    },
    dataDir,
    worker: {
      concurrency: e.EBB_WORKER_CONCURRENCY,
      reconcileIntervalMs: e.EBB_RECONCILE_INTERVAL_MS,
      lockDurationMs: e.EBB_JOB_LOCK_MS,
    },
    lockDir: e.EBB_LOCK_DIR === undefined ? resolve(dataDir, "locks") : resolveDir(cwd, e.EBB_LOCK_DIR),
    ...(e.EBB_ADMIN_TOKEN === undefined ? {} : { adminToken: e.EBB_ADMIN_TOKEN }),
    ...(e.EBB_ADMIN_PASSWORD === undefined
      ? {}
      : { firstAdmin: { username: e.EBB_ADMIN_USER, password: e.EBB_ADMIN_PASSWORD } }),
    cookieSecure: e.EBB_COOKIE_SECURE === "true",
    trustProxy: e.EBB_TRUST_PROXY,
    migrate: e.EBB_MIGRATE === "true",
    limits: {
      approvalTargetThreshold: e.EBB_APPROVAL_TARGET_THRESHOLD,
      approvalTtlMs: e.EBB_APPROVAL_TTL_MS,
      maxTargetsPerRollout: e.EBB_MAX_TARGETS_PER_ROLLOUT,
      rolloutsPerMinute: e.EBB_ROLLOUT_RATE_LIMIT,
      maxBodyBytes: e.EBB_MAX_BODY_BYTES,
    },
    webhooks: {
      attempts: e.EBB_WEBHOOK_ATTEMPTS,
      backoffMs: e.EBB_WEBHOOK_BACKOFF_MS,
      timeoutMs: e.EBB_WEBHOOK_TIMEOUT_MS,
    },
    logLevel: e.EBB_LOG_LEVEL,
    logFormat: e.EBB_LOG_FORMAT,
    metrics: { host: e.EBB_METRICS_HOST, port: e.EBB_METRICS_PORT === "off" ? null : e.EBB_METRICS_PORT },
    ...(e.OTEL_EXPORTER_OTLP_ENDPOINT === undefined
      ? {}
      : { tracing: { endpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT, serviceName: e.OTEL_SERVICE_NAME } }),
  };
  return deepFreeze(config);
}

function resolveDir(cwd: string, dir: string): string {
  return isAbsolute(dir) ? dir : resolve(cwd, dir);
}
