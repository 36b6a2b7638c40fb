// Test helpers for authentication and authorization: an app booted with its real guard, and the route
// walk. Not imported by production code.
import { mkdtemp, rm } from "node:fs/promises";
import type { ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort } from "@ebb/testkit";
import {
  Controller,
  Get,
  HttpCode,
  type INestApplication,
  Inject,
  type LoggerService,
  type MessageEvent,
  type MiddlewareConsumer,
  Module,
  type NestModule,
  Post,
  Req,
  RequestMethod,
  Sse,
  type Type,
} from "@nestjs/common";
import { METHOD_METADATA, PATH_METADATA } from "@nestjs/common/constants.js";
import { DiscoveryService, MetadataScanner, Reflector } from "@nestjs/core";
import { Observable } from "rxjs";
import type { ModuleImport } from "../src/app/app.module.js";
import { API_PREFIX, bootstrap, OUTSIDE_API_PREFIX, type RunningApp } from "../src/app/bootstrap.js";
import { featureModules } from "../src/app/features.js";
import { ACCESS_METADATA, Access, type AccessLevel, UNGUARDED_ROUTES } from "../src/auth/access.js";
import { CredentialWatch } from "../src/auth/credential-watch.js";
import type { AuthenticatedRequest, Principal } from "../src/auth/principal.js";
import { parseConfig } from "../src/config/config.js";
import { type TestDatabase, testDatabases } from "./database.js";

/** Every line Nest and our loggers wrote, for "no secret in the logs" assertions. */
export class RecordingLogger implements LoggerService {
  readonly lines: string[] = [];
  private record(level: string, message: unknown, rest: unknown[]): void {
    this.lines.push(
      [level, message, ...rest]
        .map((p) =>
          p instanceof Error ? `${p.message}\n${p.stack}` : typeof p === "string" ? p : JSON.stringify(p),
        )
        .join(" "),
    );
  }
  log(message: unknown, ...rest: unknown[]): void {
    this.record("log", message, rest);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.record("error", message, rest);
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.record("warn", message, rest);
  }
  debug(message: unknown, ...rest: unknown[]): void {
    this.record("debug", message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]): void {
    this.record("verbose", message, rest);
  }
  fatal(message: unknown, ...rest: unknown[]): void {
    this.record("fatal", message, rest);
  }
}

export interface AuthTestApp {
  running: RunningApp;
  app: INestApplication;
  apiUrl: string;
  database: TestDatabase;
  logger: RecordingLogger;
  close(): Promise<void>;
}

export interface AuthTestAppOptions {
  /** The loopback address the API and the embedded Redis listen on (the test's own range). */
  host: string;
  env?: Record<string, string>;
  /** Extra modules (test controllers). */
  modules?: ModuleImport[];
  /** Ebb's feature modules for the role (default true): every route the product has. */
  features?: boolean;
}

/** Ebb (api role by default) on a fresh PGlite and its own embedded Redis, with a recording logger. */
export async function startAuthTestApp(opts: AuthTestAppOptions): Promise<AuthTestApp> {
  const dataDir = await mkdtemp(path.join(tmpdir(), "ebb-auth-"));
  const database = await testDatabases()
    .find((v) => v.kind === "pglite")!
    .open();
  const logger = new RecordingLogger();
  try {
    const config = parseConfig(
      {
        EBB_ROLE: "api",
        EBB_API_HOST: opts.host,
        EBB_API_PORT: String(await freePort(opts.host)),
        EBB_REDIS_PORT: String(await freePort(opts.host)),
        EBB_DATA_DIR: dataDir,
        EBB_LOG_LEVEL: "debug",
        ...opts.env,
      },
      { cwd: dataDir },
    );
    const running = await bootstrap(config, {
      database,
      embeddedRedisHost: opts.host,
      logger,
      modules: [...(opts.features === false ? [] : featureModules(config, {})), ...(opts.modules ?? [])],
    });
    let closing: Promise<void> | undefined;
    return {
      running,
      app: running.app as INestApplication,
      apiUrl: running.apiUrl!,
      database,
      logger,
      close() {
        closing ??= (async () => {
          await running.close();
          await database.drop();
          await rm(dataDir, { recursive: true, force: true });
        })();
        return closing;
      },
    };
  } catch (err) {
    await database.drop();
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
}

export interface WalkedRoute {
  /** GET, POST, ... ("ALL" for @All). */
  method: string;
  /** The full path as Express matches it, e.g. /api/v1/rollouts/:id. */
  path: string;
  /** Controller.method, to name the route in a failure. */
  handler: string;
  access: AccessLevel | undefined;
}

export interface RouteWalk {
  /** Every route of every controller, with its declared access level. */
  routes: WalkedRoute[];
  /** Routes Express serves that no controller declares (registered around Nest: no guard runs for them). */
  unaccounted: string[];
  /** Routes served around Nest that UNGUARDED_ROUTES declares public on purpose (the OpenAPI UI). */
  declaredPublic: string[];
}

/**
 * Enumerates the app's routes twice: from Nest's controllers (DiscoveryService + MetadataScanner, with
 * the `@Access` level the guard will read) and from Express's router (what is really served). A route
 * Express serves that no controller declares has no guard in front of it, so it is reported too.
 * Needs `DiscoveryModule` among the app's modules.
 */
export function walkRoutes(app: INestApplication): RouteWalk {
  const discovery = app.get(DiscoveryService);
  const scanner = app.get(MetadataScanner);
  const reflector = app.get(Reflector);
  const routes: WalkedRoute[] = [];
  for (const wrapper of discovery.getControllers()) {
    const controller = wrapper.metatype as Type<unknown> | null;
    if (!controller || !wrapper.instance) continue;
    const prototype = Object.getPrototypeOf(wrapper.instance) as Record<string, unknown>;
    const controllerPaths = asList(Reflect.getMetadata(PATH_METADATA, controller));
    for (const name of scanner.getAllMethodNames(prototype)) {
      const handler = prototype[name] as (...args: unknown[]) => unknown;
      const methodPaths = Reflect.getMetadata(PATH_METADATA, handler) as string | string[] | undefined;
      if (methodPaths === undefined) continue;
      const method = RequestMethod[Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod] ?? "GET";
      const access = reflector.getAllAndOverride<AccessLevel | undefined>(ACCESS_METADATA, [
        handler,
        controller,
      ]);
      for (const base of controllerPaths) {
        for (const sub of asList(methodPaths)) {
          routes.push({
            method,
            path: OUTSIDE_API_PREFIX.includes(base.replace(/^\//, ""))
              ? joinPath(base, sub)
              : joinPath(API_PREFIX, base, sub),
            handler: `${controller.name}.${name}`,
            access,
          });
        }
      }
    }
  }

  const declared = new Set(routes.map((r) => `${r.method} ${r.path}`));
  const unaccounted: string[] = [];
  const declaredPublic: string[] = [];
  for (const served of new Set(expressRoutes(app))) {
    const [method, route = ""] = served.split(" ");
    const nest =
      declared.has(served) ||
      declared.has(`ALL ${route}`) ||
      (method === "HEAD" && declared.has(`GET ${route}`));
    if (nest) continue;
    // Nest answers the other methods of a route outside the prefix with its 404 handler (app.all on the
    // exact path, see ExpressAdapter.setNotFoundHandler): no handler of ours runs there.
    if (OUTSIDE_API_PREFIX.some((p) => route === `/${p}`) && routes.some((r) => r.path === route)) continue;
    if (UNGUARDED_ROUTES.some((u) => route.startsWith(u.prefix))) declaredPublic.push(served);
    else unaccounted.push(served);
  }
  return { routes, unaccounted, declaredPublic };
}

function asList(value: unknown): string[] {
  if (Array.isArray(value)) return value.map(String);
  return [typeof value === "string" ? value : "/"];
}

function joinPath(...parts: string[]): string {
  const joined = `/${parts.join("/")}`.replace(/\/+/g, "/");
  return joined.length > 1 ? joined.replace(/\/$/, "") : joined;
}

interface ExpressLayer {
  route?: { path: string | string[]; methods: Record<string, boolean> };
}

/** "METHOD /path" of every route on Express's router (Express 5: `app.router`). */
function expressRoutes(app: INestApplication): string[] {
  const express = app.getHttpAdapter().getInstance() as { router?: { stack: ExpressLayer[] } };
  const stack = express.router?.stack;
  if (!stack) throw new Error("cannot read the Express router: the route walk needs Express 5's app.router");
  const out: string[] = [];
  for (const layer of stack) {
    if (!layer.route) continue;
    for (const p of asList(layer.route.path)) {
      for (const [method, on] of Object.entries(layer.route.methods)) {
        if (on) out.push(`${method === "_all" ? "ALL" : method.toUpperCase()} ${joinPath(p)}`);
      }
    }
  }
  return out;
}

export interface ProbeAnswer {
  url: string;
  status: number;
  principal: Principal | undefined;
}

/**
 * Test routes under /auth-probe: `stream` (read) is an event stream that ends when its credential does,
 * the way SSE controllers use CredentialWatch; `deploy` needs deploy; `undeclared` has no @Access. Its
 * middleware records the principal the guard left on the request, on every answer (as the audit does).
 * Defined here because test/ files are compiled without decorator support.
 */
export function createProbeModule(answered: ProbeAnswer[]): Type<unknown> {
  @Controller("auth-probe")
  class ProbeController {
    @Inject(CredentialWatch) private readonly watch!: CredentialWatch;

    @Sse("stream")
    @Access("read")
    stream(@Req() req: AuthenticatedRequest): Observable<MessageEvent> {
      const principal = req.principal as Principal;
      return new Observable<MessageEvent>((subscriber) => {
        subscriber.next({ data: { hello: principal.name } });
        return this.watch.watch(principal, () => subscriber.complete());
      });
    }

    @Post("deploy")
    @Access("deploy")
    @HttpCode(200)
    deploy(): { deployed: true } {
      return { deployed: true };
    }

    @Get("undeclared")
    undeclared(): { open: true } {
      return { open: true };
    }
  }

  @Module({ controllers: [ProbeController] })
  class ProbeModule implements NestModule {
    configure(consumer: MiddlewareConsumer): void {
      consumer
        .apply(
          (req: AuthenticatedRequest & { originalUrl: string }, res: ServerResponse, next: () => void) => {
            res.once("finish", () =>
              answered.push({ url: req.originalUrl, status: res.statusCode, principal: req.principal }),
            );
            next();
          },
        )
        .forRoutes(ProbeController);
    }
  }
  return ProbeModule;
}
