import type { Server } from "node:net";
import { setSecretResolver } from "@ebb/core";
import type { INestApplication, INestApplicationContext, LoggerService } from "@nestjs/common";
import { NestFactory } from "@nestjs/core";
import type { NestExpressApplication } from "@nestjs/platform-express";
import { notFoundFallback } from "../common/not-found.js";
import { serveOpenApi } from "../common/openapi.js";
import { requestIdMiddleware } from "../common/request-id.js";
import type { EbbConfig } from "../config/config.js";
import { describeConfig } from "../config/describe.js";
import { servesHttp } from "../config/roles.js";
import { type Database, openDatabase } from "../database/client.js";
import { eventStreamCounter } from "../metrics/event-stream-counter.js";
import { EbbMetrics } from "../metrics/metrics.js";
import { WorkerMetricsServer } from "../metrics/worker-metrics-server.js";
import { RedisConnections } from "../redis/connections.js";
import { startEmbeddedRedis } from "../redis/embedded.js";
import { checkRedisPolicy } from "../redis/policy.js";
import { AppModule, type ModuleImport } from "./app.module.js";
import { drainableHttp } from "./graceful-http.js";
import { createLogger } from "./logger.js";
import { workerSecretResolver } from "./secret-resolver.js";

export const API_PREFIX = "api/v1";
/** Controllers served at the root instead: Prometheus scrapes /metrics by default. */
export const OUTSIDE_API_PREFIX = ["metrics"];

export interface BootstrapDeps {
  /** A database the caller opened (and will close). Default: `openDatabase(config.database)`, migrated. */
  database?: Database;
  /** Feature modules, or test controllers. */
  modules?: ModuleImport[];
  /** Listen address of the embedded Redis. Default 127.0.0.1; tests use their own loopback range. */
  embeddedRedisHost?: string;
  /** Default: a console logger at `config.logLevel`. `false` silences Nest. */
  logger?: LoggerService | false;
  /** Where `secret:env:NAME` references are read (worker roles). Default: this process's environment. */
  secretEnv?: Readonly<Record<string, string | undefined>>;
}

export interface RunningApp {
  /** An INestApplication when the role serves HTTP, an application context (no HTTP) for `worker`. */
  app: INestApplication | INestApplicationContext;
  /** `http://host:port/api/v1` when the role serves HTTP. */
  apiUrl?: string;
  /** Where Prometheus scrapes this process: the API's `/metrics`, or a worker's own port (unless off). */
  metricsUrl?: string;
  /** The Redis in use: REDIS_URL, or the embedded one. */
  redisUrl: string;
  /** Graceful and idempotent: HTTP and workers, then queues, Redis connections, database, embedded Redis. */
  close(): Promise<void>;
}

/**
 * Starts the api/worker process in-process: Redis (embedded unless REDIS_URL) with its eviction policy
 * checked, the database (migrated), then Nest with HTTP (roles api/all) or without (worker). main.ts,
 * the lab launcher and tests all start the app through here.
 */
export async function bootstrap(config: EbbConfig, deps: BootstrapDeps = {}): Promise<RunningApp> {
  const logger = deps.logger === undefined ? createLogger(config.logLevel, config.logFormat) : deps.logger;
  const log = (context: string) => (line: string) => {
    if (logger) logger.log(line, context);
  };
  log("boot")(`starting Ebb (${config.role})\n${describeConfig(config)}`);

  // Resources in the order they were opened; closed in reverse, the embedded Redis last.
  const closers: { what: string; close: () => Promise<void> }[] = [];
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= closeAll(closers, logger);
    return closing;
  };

  // Only processes that run steps resolve `secret:` parameter references (see core/secret-ref.ts).
  if (config.role !== "api") setSecretResolver(workerSecretResolver(deps.secretEnv ?? process.env));

  try {
    let redisUrl: string;
    if (config.redis.url !== undefined) {
      redisUrl = config.redis.url;
      await checkRedisPolicy(redisUrl, { log: log("redis") });
    } else {
      const embedded = await startEmbeddedRedis({
        port: config.redis.embeddedPort,
        dir: config.redis.dir,
        host: deps.embeddedRedisHost ?? "127.0.0.1",
        log: log("redis"),
      });
      closers.push({ what: "embedded redis", close: embedded.stop });
      redisUrl = embedded.url;
    }

    let database = deps.database;
    if (database === undefined) {
      const opened = await openDatabase(config.database, { migrate: config.migrate, log: log("database") });
      closers.push({ what: "database", close: opened.close });
      database = opened;
    }

    const redis = new RedisConnections(redisUrl, log("redis"));
    closers.push({ what: "redis connections", close: () => redis.closeAll() });

    const metrics = new EbbMetrics();
    // Loaded only when asked for: without OTEL_EXPORTER_OTLP_ENDPOINT no OpenTelemetry SDK code is imported.
    const tracing =
      config.tracing === undefined
        ? undefined
        : (await import("../tracing/tracing.js")).startTracing({ ...config.tracing, role: config.role });
    // Closed after Nest (closers run in reverse): the spans of the last jobs are exported too.
    if (tracing) closers.push({ what: "tracing", close: () => tracing.shutdown() });
    const module = AppModule.forRoot(config, {
      database,
      redis,
      modules: deps.modules ?? [],
      observability: { metrics, observers: tracing ? [tracing.observer] : [] },
    });
    // abortOnError false: a failing provider must reject bootstrap() (and release what we opened), not
    // call process.exit() from inside Nest.
    const nestOptions = { logger, abortOnError: false };

    if (!servesHttp(config.role)) {
      const app = await NestFactory.createApplicationContext(module, nestOptions);
      closers.push({ what: "nest", close: () => app.close() });
      await app.init();
      const metricsUrl = app.get(WorkerMetricsServer, { strict: false }).url;
      log("boot")(`worker started (no API; metrics ${metricsUrl ?? "off"})`);
      return { app, redisUrl, close, ...(metricsUrl === undefined ? {} : { metricsUrl }) };
    }

    const app = await NestFactory.create(module, nestOptions);
    const http = drainableHttp(app);
    closers.push({
      what: "nest",
      close: async () => {
        // Nest runs the modules' destroy hooks (workers) before it closes the HTTP server; stop taking
        // new connections first. Requests in flight still finish, and Nest waits for them.
        http.drain();
        await app.close();
      },
    });
    app.use(requestIdMiddleware);
    if (tracing) app.use(tracing.middleware);
    app.use(eventStreamCounter(metrics));
    // A body over the limit is refused (413) before it is parsed; runbook sources are the largest bodies.
    (app as NestExpressApplication).useBodyParser("json", { limit: config.limits.maxBodyBytes });
    // Prometheus looks for /metrics at the root by default.
    app.setGlobalPrefix(API_PREFIX, { exclude: OUTSIDE_API_PREFIX });
    await app.init();
    serveOpenApi(app);
    // After init(), so it lands behind every route and Nest's own (prefix-only) 404 handler.
    app.use(notFoundFallback(API_PREFIX));
    await app.listen(config.api.port, config.api.host);
    const apiUrl = `http://${urlHost(config.api.host)}:${listeningPort(app)}/${API_PREFIX}`;
    const metricsUrl = `${apiUrl.slice(0, -API_PREFIX.length - 1)}/metrics`;
    log("boot")(`API listening on ${apiUrl} (metrics ${metricsUrl})`);
    return { app, apiUrl, metricsUrl, redisUrl, close };
  } catch (err) {
    await close();
    throw err;
  }
}

async function closeAll(
  closers: { what: string; close: () => Promise<void> }[],
  logger: LoggerService | false,
): Promise<void> {
  for (const { what, close } of closers.splice(0).reverse()) {
    try {
      await close();
    } catch (err) {
      // Keep going: a database that fails to close must not leave the embedded Redis running.
      if (logger)
        logger.error(
          `closing ${what} failed: ${err instanceof Error ? err.message : String(err)}`,
          "shutdown",
        );
    }
  }
}

/** The bound port: the configured one, or the one the OS picked for port 0 (tests). */
function listeningPort(app: INestApplication): number {
  const address = (app.getHttpServer() as Server).address();
  if (address === null || typeof address === "string")
    throw new Error("the HTTP server is not listening on TCP");
  return address.port;
}

function urlHost(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}
