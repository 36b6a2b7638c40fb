import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AuditOutcome } from "@ebb/contracts";
import { EbbError } from "@ebb/core";
import {
  type CallHandler,
  type ExecutionContext,
  Inject,
  Injectable,
  Logger,
  type NestInterceptor,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  Optional,
} from "@nestjs/common";
import { ApplicationConfig, HttpAdapterHost } from "@nestjs/core";
import { defer, finalize, type Observable, switchMap, tap } from "rxjs";
import { AuthService } from "../auth/auth.service.js";
import type { AuthenticatedRequest, Principal } from "../auth/principal.js";
import { clientAddressOf, type TrustProxy } from "../common/client-address.js";
import { mapError } from "../common/error-mapping.js";
import { ensureRequestId } from "../common/request-id.js";
import { describeRoute, isSimplePattern, type KnownRoute, MUTATING_METHODS, matchRoute } from "./actions.js";
import { AuditService } from "./audit.service.js";
import { ANONYMOUS_ACTOR, type AuditActor, type AuditEventInput } from "./audit-store.js";

export const AUDIT_OPTIONS = Symbol("ebb.audit-options");

export interface AuditOptions {
  /** Which proxies' X-Forwarded-For names the client (see common/client-address.ts); none by default. */
  trustProxy?: TrustProxy;
}

/** What a handler (or a guard) knows that the route does not: add it with `noteAudit`. */
export interface AuditNote {
  /** Who acted, when the principal on the request does not say (a login that just succeeded). */
  actor?: AuditActor;
  resourceType?: string;
  resourceId?: string;
  fleet?: string;
  /** Merged into the event's summary (redacted like everything else). */
  summary?: Record<string, unknown>;
}

interface RequestAudit {
  note: AuditNote;
  /** id / status / fleet of what the handler returned; `user` when it answers with the user it logged in. */
  result?: { id?: string; status?: string; fleet?: string; user?: { id: string; username: string } };
  errorCode?: string;
  /** The handler returned (what it returned may be nothing: a 204). */
  returned?: boolean;
  /** Set while the handler runs: resolves when it returned or threw. */
  settled?: Promise<void>;
  /** The id of the request's `started` event, committed before the handler ran. */
  intentId?: string;
}

const requests = new WeakMap<IncomingMessage, RequestAudit>();

function stateOf(req: IncomingMessage): RequestAudit {
  let state = requests.get(req);
  if (!state) {
    state = { note: {} };
    requests.set(req, state);
  }
  return state;
}

/** Adds what only a handler knows to the audit event of its request (later notes win, summaries merge). */
export function noteAudit(req: IncomingMessage, note: AuditNote): void {
  const state = stateOf(req);
  const summary = { ...state.note.summary, ...note.summary };
  state.note = { ...state.note, ...note, ...(Object.keys(summary).length > 0 ? { summary } : {}) };
}

/** Ids and statuses only: a response may carry a secret shown once (a new API token), never copied. */
function resultOf(value: unknown): RequestAudit["result"] {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return undefined;
  const { id, status, fleet, user } = value as Record<string, unknown>;
  const result: NonNullable<RequestAudit["result"]> = {};
  if (typeof id === "string" || typeof id === "number") result.id = String(id);
  if (typeof status === "string") result.status = status;
  if (typeof fleet === "string") result.fleet = fleet;
  const who = user as { id?: unknown; username?: unknown } | null | undefined;
  if (typeof who?.id === "string" && typeof who.username === "string") {
    result.user = { id: who.id, username: who.username };
  }
  return Object.keys(result).length > 0 ? result : undefined;
}

/**
 * How long an event waits for a handler whose client went away before the answer: the handler may still
 * create the rollout, and the event should say so.
 */
const ABANDONED_HANDLER_WAIT_MS = 30_000;

/**
 * One outcome event for every POST/PUT/PATCH/DELETE under the API prefix, once its response is over,
 * whatever answered it: a handler, the auth guard (401/403), validation (400), Express's JSON parser
 * (400/413), the 404 handler, the exception filter (5xx). A request that reached its handler also has the
 * `started` event AuditInterceptor committed before the handler ran (`recordIntent`); the outcome event
 * names it (`summary.intent`).
 *
 * It listens on the HTTP server itself, ahead of Express: the body parser runs before any Nest
 * middleware, and a request it rejects never reaches one. The outcome event is written after the
 * response, in the background, so it never delays or fails an answer; what a crash can lose there is
 * only the outcome, never the trace of a request that ran.
 */
@Injectable()
export class AuditHttpRecorder implements OnApplicationBootstrap, OnApplicationShutdown {
  @Inject(HttpAdapterHost) private readonly adapterHost!: HttpAdapterHost;
  @Inject(ApplicationConfig) private readonly appConfig!: ApplicationConfig;
  @Inject(AuditService) private readonly audit!: AuditService;
  @Inject(AUDIT_OPTIONS) private readonly options!: AuditOptions;
  // Optional: an app without the auth module (a test's) records every caller as anonymous.
  @Optional() @Inject(AuthService) private readonly auth?: AuthService;
  private readonly logger = new Logger("audit");
  private server: Server | undefined;
  private prefix = "";
  private routes: KnownRoute[] = [];

  onApplicationBootstrap(): void {
    const adapter = this.adapterHost.httpAdapter;
    // An application context (worker role) has no HTTP server.
    const server = adapter?.getHttpServer() as Server | undefined;
    if (!adapter || !server) return;
    const prefix = this.appConfig.getGlobalPrefix().replace(/^\/+|\/+$/g, "");
    this.prefix = prefix === "" ? "" : `/${prefix}`;
    this.routes = knownRoutes(adapter.getInstance(), this.prefix);
    server.prependListener("request", this.onRequest);
    this.server = server;
  }

  onApplicationShutdown(): void {
    this.server?.off("request", this.onRequest);
    this.server = undefined;
  }

  private readonly onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const method = req.method ?? "";
    if (!MUTATING_METHODS.has(method)) return;
    const path = pathOf(req.url ?? "/");
    if (path === undefined || !underPrefix(path, this.prefix)) return;
    const started = Date.now();
    // "close" comes after "finish" for a response that was sent, and alone when the client went away.
    res.once("close", () => {
      const status = res.writableFinished ? res.statusCode : null;
      const durationMs = Date.now() - started;
      this.audit.recordLater(() => this.describe(req, method, path, { status, durationMs }));
    });
  };

  /**
   * Commits the `started` event of a request about to reach its handler (AuditInterceptor). Throws when it
   * cannot: the handler must then not run.
   */
  async recordIntent(req: IncomingMessage): Promise<void> {
    const method = req.method ?? "";
    const path = pathOf(req.url ?? "/");
    if (path === undefined || !underPrefix(path, this.prefix)) return;
    let appended: { id: bigint };
    try {
      appended = await this.audit.append(await this.describe(req, method, path, "intent"));
    } catch (err) {
      this.logger.error(
        `${method} ${path} refused: its audit event could not be written: ${err instanceof Error ? err.message : String(err)}`,
      );
      throw new EbbError(
        "unavailable",
        "the request was not run: its audit event could not be written; try again later",
        { cause: err },
      );
    }
    stateOf(req).intentId = appended.id.toString();
  }

  private async describe(
    req: IncomingMessage,
    method: string,
    path: string,
    ending: { status: number | null; durationMs: number } | "intent",
  ): Promise<AuditEventInput> {
    const intent = ending === "intent";
    const status = intent ? null : ending.status;
    const state = stateOf(req);
    if (!intent && status === null && state.settled) {
      await settledOrTimeout(state.settled, ABANDONED_HANDLER_WAIT_MS);
    }
    const relative = path.slice(this.prefix.length) || "/";
    const matched = (req as { route?: { path?: unknown } }).route?.path;
    const pattern =
      typeof matched === "string" && underPrefix(matched, this.prefix)
        ? matched.slice(this.prefix.length) || "/"
        : matchRoute(this.routes, method, relative);
    const route = describeRoute(method, pattern, relative);
    const body = (req as { body?: unknown }).body;
    const bodyFields = isPlainObject(body) ? body : undefined;
    // A `started` event knows only the request: what the handler returns or throws comes after it.
    const { note } = state;
    const { result, errorCode, intentId } = intent ? {} : state;
    const resourceId =
      note.resourceId ?? route.resourceId ?? (method === "POST" ? result?.id : undefined) ?? null;
    const resourceType = note.resourceType ?? route.resourceType;
    let fleet =
      note.fleet ?? result?.fleet ?? (typeof bodyFields?.fleet === "string" ? bodyFields.fleet : null);
    if (fleet === null && resourceType === "rollout" && resourceId !== null && UUID.test(resourceId)) {
      // Only a filter's convenience: an event without its fleet beats no event.
      fleet = await this.audit.fleetOfRollout(resourceId).catch(() => null);
    }
    const query = queryOf(req.url ?? "");
    const caller = await this.callerOf(req, state);
    return {
      actor: caller.actor,
      action: route.action,
      resourceType,
      resourceId,
      fleet,
      summary: {
        route: route.route,
        ...(bodyFields && Object.keys(bodyFields).length > 0 ? { request: bodyFields } : {}),
        ...(query ? { query } : {}),
        ...(result ? { result } : {}),
        ...(errorCode ? { error: errorCode } : {}),
        ...(!intent && status === null ? { aborted: true } : {}),
        // Not "credential": the redaction would hide the value under that key.
        ...(caller.invalidCredential ? { caller: "invalid credential" } : {}),
        ...(intent ? {} : { durationMs: ending.durationMs }),
        ...(intentId ? { intent: intentId } : {}),
        ...note.summary,
      },
      outcome: intent ? "started" : outcomeOf(status, state),
      httpStatus: status,
      clientIp: clientIpOf(req, this.options.trustProxy ?? false),
      userAgent: headerOf(req, "user-agent"),
      requestId: ensureRequestId(req),
    };
  }

  /**
   * Who made the request: what a handler noted, the principal the auth guard set, the user a login
   * answered with. A request the guard never saw (refused by the JSON parser, or no route matched) still
   * carries its credential: identified here, so the event names the caller rather than "anonymous".
   */
  private async callerOf(
    req: IncomingMessage,
    state: RequestAudit,
  ): Promise<{ actor: AuditActor; invalidCredential?: true }> {
    if (state.note.actor) return { actor: state.note.actor };
    const principal = (req as AuthenticatedRequest).principal;
    if (principal) return { actor: actorOf(principal) };
    const user = state.result?.user;
    if (user) return { actor: { kind: "user", id: user.id, name: user.username } };
    if (!this.auth || (req.headers.authorization === undefined && req.headers.cookie === undefined)) {
      return { actor: ANONYMOUS_ACTOR };
    }
    const identified = await this.auth.identify(req).catch(() => ({ kind: "invalid" as const }));
    if (identified.kind === "valid") return { actor: actorOf(identified.auth.principal) };
    return identified.kind === "invalid"
      ? { actor: ANONYMOUS_ACTOR, invalidCredential: true }
      : { actor: ANONYMOUS_ACTOR };
  }
}

/**
 * Commits the request's `started` event before its handler runs, then records what the handler returned
 * (the created id, the resulting status) or the error code it threw, for the outcome event.
 *
 * Before, not with: the effects of the API's routes commit in a dozen places (rollouts, approvals, tokens,
 * users, fleets, webhooks, holds, the engine's commands), and each would have to carry the event into its
 * own transaction, while the outcome (status, created id) is only known after the handler. One event
 * committed before any of them, here, covers every route at once, those added later included: a process
 * that dies between the effect and the response leaves the `started` event without an outcome after it.
 * If that event cannot be written the handler does not run (503): no effect without a trace.
 *
 * Guards run before interceptors: a denied request never gets here, has no effect, and gets only its
 * outcome event.
 */
@Injectable()
export class AuditInterceptor implements NestInterceptor {
  @Inject(AuditHttpRecorder) private readonly recorder!: AuditHttpRecorder;

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== "http") return next.handle();
    const req = context.switchToHttp().getRequest<IncomingMessage>();
    if (!MUTATING_METHODS.has(req.method ?? "")) return next.handle();
    const state = stateOf(req);
    let settle = () => {};
    state.settled = new Promise<void>((resolve) => {
      settle = resolve;
    });
    return defer(() => this.recorder.recordIntent(req)).pipe(
      switchMap(() => next.handle()),
      tap({
        next: (value) => {
          state.result = resultOf(value);
        },
        error: (err: unknown) => {
          state.errorCode = mapError(err).code;
        },
        complete: () => {
          state.returned = true;
        },
      }),
      finalize(() => settle()),
    );
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** denied: refused before it ran (no credential, not allowed, throttled); failed: anything else not 2xx/3xx. */
export function outcomeOf(
  status: number | null,
  state: Pick<RequestAudit, "returned" | "errorCode"> = {},
): AuditOutcome {
  if (status === null)
    return state.returned === true && state.errorCode === undefined ? "succeeded" : "failed";
  if (status === 401 || status === 403 || status === 429) return "denied";
  return status < 400 ? "succeeded" : "failed";
}

function actorOf(principal: Principal | undefined): AuditActor {
  return principal ? { kind: principal.kind, id: principal.id, name: principal.name } : ANONYMOUS_ACTOR;
}

export function clientIpOf(req: IncomingMessage, trustProxy: TrustProxy): string | null {
  return clientAddressOf(req, trustProxy);
}

function headerOf(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function pathOf(url: string): string | undefined {
  try {
    return new URL(url, "http://host").pathname;
  } catch {
    return undefined;
  }
}

function queryOf(url: string): Record<string, string | string[]> | undefined {
  const at = url.indexOf("?");
  if (at < 0) return undefined;
  const params = new URLSearchParams(url.slice(at + 1));
  const out: Record<string, string | string[]> = {};
  for (const key of new Set(params.keys())) {
    const values = params.getAll(key);
    out[key] = values.length === 1 ? values[0]! : values;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

function underPrefix(path: string, prefix: string): boolean {
  return prefix === "" || path === prefix || path.startsWith(`${prefix}/`);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value) && !Buffer.isBuffer(value);
}

async function settledOrTimeout(settled: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    settled,
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}

/** The routes Express knows under the prefix, for requests refused before routing. */
function knownRoutes(app: unknown, prefix: string): KnownRoute[] {
  const stack = (app as { router?: { stack?: unknown[] } } | undefined)?.router?.stack ?? [];
  const routes: KnownRoute[] = [];
  for (const layer of stack) {
    const route = (layer as { route?: { path?: unknown; methods?: Record<string, boolean> } }).route;
    if (typeof route?.path !== "string" || !underPrefix(route.path, prefix)) continue;
    const pattern = route.path.slice(prefix.length) || "/";
    if (!isSimplePattern(pattern)) continue;
    const methods = new Set(
      Object.entries(route.methods ?? {})
        .filter(([, on]) => on)
        .map(([m]) => m.toUpperCase()),
    );
    routes.push({ pattern, methods });
  }
  return routes;
}
