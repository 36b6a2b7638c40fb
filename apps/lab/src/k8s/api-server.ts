import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { foreignRequestProblem } from "@ebb/l4";
import {
  apiGroup,
  coreVersions,
  groupList,
  openapiGroupVersion,
  openapiRoot,
  resourceList,
  versionInfo,
} from "./discovery.js";
import { ApiError, badRequest, expired, notFound } from "./errors.js";
import { allowed, type ServiceAccountIdentity, type ServiceAccountTokens, verbOf } from "./rbac.js";
import type { DeleteOptions, Registry } from "./registry.js";
import { apiVersionOf, type ResourceType, resourceByPath } from "./resources.js";
import { type Matcher, parseFieldSelector, parseLabelSelector, SelectorError } from "./selectors.js";
import type { StoreEvent, WatchEventType } from "./store.js";
import { toTable, wantsTable } from "./table.js";
import { isRecord, type KObject } from "./types.js";

export interface ApiServerOptions {
  host: string;
  /** Service-account tokens the kubelet issued to pods; a request carrying one is authorized by RBAC. */
  serviceAccounts?: ServiceAccountTokens;
  /** 0 picks a free port. */
  port: number;
  registry: Registry;
  /** When set, requests must carry `Authorization: Bearer <token>`. */
  token?: string;
  /** How often a watch that allowed bookmarks gets one. */
  bookmarkIntervalMs?: number;
  /** Internal errors, and with logRequests one line per request. */
  log?: (line: string) => void;
  logRequests?: boolean;
}

const MAX_BODY = 3 * 1024 * 1024;

interface Route {
  type: ResourceType;
  namespace: string | undefined;
  name: string | undefined;
  sub: string | undefined;
}

class BodyError extends Error {}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new BodyError(`request body larger than ${MAX_BODY} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function parseJson(buf: Buffer): unknown {
  if (buf.length === 0) return undefined;
  try {
    return JSON.parse(buf.toString("utf8"));
  } catch (err) {
    throw badRequest(`the request body is not JSON: ${(err as Error).message}`);
  }
}

function intParam(q: URLSearchParams, name: string): number | undefined {
  const raw = q.get(name);
  if (raw === null || raw === "") return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n))
    throw badRequest(`query parameter ${name}: integer expected, got ${JSON.stringify(raw)}`);
  return n;
}

/**
 * The Kubernetes REST API over plain HTTP, for what Ebb, kubectl and client-node informers use:
 * discovery, list/get/watch/create/update/patch/delete on every kind in RESOURCE_TYPES, the status
 * subresource, label and field selectors, resourceVersions, bookmarks and 410 Expired.
 */
export class ApiServer {
  private readonly server: Server;
  private readonly watches = new Set<ServerResponse>();
  private readonly log: (line: string) => void;

  private constructor(
    private readonly opts: ApiServerOptions,
    server: Server,
  ) {
    this.server = server;
    this.log = opts.log ?? (() => {});
  }

  static async start(opts: ApiServerOptions): Promise<ApiServer> {
    const server = createServer();
    const api = new ApiServer(opts, server);
    server.on("request", (req, res) => void api.handle(req, res));
    // Watches are long-lived requests; Node must not cut them.
    server.requestTimeout = 0;
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: opts.host, port: opts.port }, () => {
        server.off("error", reject);
        resolve();
      });
    });
    return api;
  }

  get address(): { host: string; port: number } {
    const a = this.server.address() as AddressInfo;
    return { host: a.address, port: a.port };
  }

  get url(): string {
    const { host, port } = this.address;
    return `http://${host}:${port}`;
  }

  /** Ends every open watch, as an API server restart or a load balancer in front does; clients resume. */
  dropWatches(): void {
    for (const res of this.watches) res.end();
    this.watches.clear();
  }

  async stop(): Promise<void> {
    for (const res of this.watches) res.end();
    this.watches.clear();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private get registry(): Registry {
    return this.opts.registry;
  }

  private send(res: ServerResponse, status: number, body: unknown): void {
    if (res.headersSent) {
      res.end();
      return;
    }
    const text = JSON.stringify(body);
    res.writeHead(status, {
      "Content-Type": "application/json",
      "Content-Length": Buffer.byteLength(text),
      "Cache-Control": "no-cache, private",
    });
    res.end(text);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://emulator.invalid");
    const started = Date.now();
    if (this.opts.logRequests) {
      res.once("finish", () =>
        this.log(`${req.method} ${url.pathname}${url.search} ${res.statusCode} ${Date.now() - started}ms`),
      );
    }
    try {
      // A web page must not drive the emulated cluster (CSRF, DNS rebinding): see foreignRequestProblem.
      const foreign = foreignRequestProblem(req);
      if (foreign !== undefined) throw new ApiError(403, "Forbidden", foreign);
      const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
      const sa = bearer !== undefined ? this.opts.serviceAccounts?.identify(bearer) : undefined;
      if (!sa && this.opts.token !== undefined && bearer !== this.opts.token) {
        throw new ApiError(401, "Unauthorized", "Unauthorized");
      }
      const body = ["POST", "PUT", "PATCH", "DELETE"].includes(req.method ?? "")
        ? parseJson(await readBody(req))
        : undefined;
      this.route(req, res, url, body, sa);
    } catch (err) {
      this.fail(res, err);
    }
  }

  private fail(res: ServerResponse, err: unknown) {
    if (err instanceof ApiError) return this.send(res, err.code, err.status());
    if (err instanceof SelectorError || err instanceof BodyError)
      return this.send(res, 400, badRequest(err.message).status());
    this.log(`internal error: ${(err as Error).stack ?? String(err)}`);
    this.send(
      res,
      500,
      new ApiError(500, "InternalError", `internal error: ${(err as Error).message}`).status(),
    );
  }

  private route(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    body: unknown,
    sa: ServiceAccountIdentity | undefined,
  ) {
    const path = url.pathname.replace(/\/+$/, "") || "/";
    const seg = path
      .split("/")
      .filter((s) => s.length > 0)
      .map(decodeURIComponent);
    const method = req.method ?? "GET";
    if (method === "GET") {
      const doc = this.discovery(path, req);
      if (doc !== undefined) return this.send(res, 200, doc);
      if (path === "/healthz" || path === "/livez" || path === "/readyz") {
        res.writeHead(200, { "Content-Type": "text/plain" });
        res.end("ok");
        return;
      }
    }
    let group: string;
    let version: string;
    let rest: string[];
    if (seg[0] === "api" && seg.length >= 2) {
      group = "";
      version = seg[1]!;
      rest = seg.slice(2);
    } else if (seg[0] === "apis" && seg.length >= 3) {
      group = seg[1]!;
      version = seg[2]!;
      rest = seg.slice(3);
    } else {
      throw new ApiError(404, "NotFound", `the server could not find the requested resource (${path})`);
    }
    const route = this.resolve(group, version, rest, path);
    if (sa) {
      const watch = url.searchParams.get("watch") === "true" || url.searchParams.get("watch") === "1";
      const verb = verbOf(method, route.name !== undefined, watch);
      if (!allowed(this.registry.store, sa, verb, route.type, route.namespace, route.name, route.sub)) {
        const who = `system:serviceaccount:${sa.namespace}:${sa.serviceAccount}`;
        const what = route.type.group ? `${route.type.plural}.${route.type.group}` : route.type.plural;
        throw new ApiError(
          403,
          "Forbidden",
          `${what}${route.name ? ` "${route.name}"` : ""} is forbidden: User "${who}" cannot ${verb} resource "${route.type.plural}" in API group "${route.type.group}"${route.namespace ? ` in the namespace "${route.namespace}"` : " at the cluster scope"}`,
        );
      }
    }
    this.dispatch(method, req, res, url.searchParams, route, body);
  }

  private discovery(path: string, req: IncomingMessage): unknown {
    if (path === "/version") return versionInfo();
    if (path === "/api") return coreVersions(req.headers.host ?? `${this.address.host}:${this.address.port}`);
    if (path === "/apis") return groupList();
    if (path === "/openapi/v3") return openapiRoot();
    if (path.startsWith("/openapi/v3/")) return openapiGroupVersion(path.slice("/openapi/v3/".length));
    let m = /^\/api\/([^/]+)$/.exec(path);
    if (m) return resourceList("", m[1]!);
    m = /^\/apis\/([^/]+)$/.exec(path);
    if (m) return apiGroup(m[1]!);
    m = /^\/apis\/([^/]+)\/([^/]+)$/.exec(path);
    if (m) return resourceList(m[1]!, m[2]!);
    return undefined;
  }

  private resolve(group: string, version: string, rest: string[], path: string): Route {
    const missing = () =>
      new ApiError(404, "NotFound", `the server could not find the requested resource (${path})`);
    // namespaces/{ns}/{plural}[/{name}[/{sub}]], or {plural}[/{name}[/{sub}]] for cluster-wide and cluster-scoped.
    if (rest[0] === "namespaces" && rest.length >= 3) {
      const type = resourceByPath(group, version, rest[2]!);
      if (!type?.namespaced || rest.length > 5) throw missing();
      return { type, namespace: rest[1], name: rest[3], sub: rest[4] };
    }
    const type = resourceByPath(group, version, rest[0] ?? "");
    if (!type || rest.length > 3) throw missing();
    if (type.namespaced && rest.length > 1) throw missing();
    return { type, namespace: undefined, name: rest[1], sub: rest[2] };
  }

  private dispatch(
    method: string,
    req: IncomingMessage,
    res: ServerResponse,
    q: URLSearchParams,
    r: Route,
    body: unknown,
  ) {
    const { type, namespace, name, sub } = r;
    if (sub !== undefined && !(type.subresources as string[]).includes(sub)) {
      throw new ApiError(
        404,
        "NotFound",
        `the server could not find the requested resource (${type.plural}/${sub})`,
      );
    }
    if (q.get("dryRun")) throw badRequest("dryRun is not supported by the lab emulator");
    const table = wantsTable(req.headers.accept);
    if (sub === "scale" && name !== undefined) {
      if (method === "GET") return this.send(res, 200, this.registry.getScale(type, namespace, name));
      if (method === "PUT") return this.send(res, 200, this.registry.writeScale(type, namespace, name, body));
      if (method === "PATCH")
        return this.send(
          res,
          200,
          this.registry.writeScale(type, namespace, name, body, req.headers["content-type"] ?? ""),
        );
      throw new ApiError(405, "MethodNotAllowed", `method ${method} is not allowed on scale`);
    }
    switch (method) {
      case "GET": {
        if (name === undefined) {
          if (q.get("watch") === "true" || q.get("watch") === "1") return this.watch(req, res, q, r, table);
          return this.list(res, q, r, table);
        }
        const obj = this.registry.store.peek(type, namespace, name);
        if (!obj) throw notFound(type.plural, type.group, name);
        const out = table
          ? toTable(type, [obj], obj.metadata.resourceVersion ?? "", q.get("includeObject"))
          : obj;
        return this.send(res, 200, out);
      }
      case "POST":
        if (name !== undefined)
          throw new ApiError(405, "MethodNotAllowed", "POST on a named object is not supported");
        return this.send(res, 201, this.registry.create(type, namespace, body));
      case "PUT":
        if (name === undefined) throw new ApiError(405, "MethodNotAllowed", "PUT needs an object name");
        return this.send(res, 200, this.registry.replace(type, namespace, name, body, sub));
      case "PATCH":
        if (name === undefined) throw new ApiError(405, "MethodNotAllowed", "PATCH needs an object name");
        return this.send(
          res,
          200,
          this.registry.patch(type, namespace, name, req.headers["content-type"] ?? "", body, sub),
        );
      case "DELETE": {
        if (name === undefined || sub !== undefined)
          throw new ApiError(405, "MethodNotAllowed", "DELETE needs an object name (no deletecollection)");
        const { object } = this.registry.delete(type, namespace, name, deleteOptions(q, body));
        return this.send(res, 200, object);
      }
      default:
        throw new ApiError(405, "MethodNotAllowed", `method ${method} is not allowed`);
    }
  }

  private matcher(q: URLSearchParams, namespace: string | undefined): Matcher {
    const label = parseLabelSelector(q.get("labelSelector"));
    const field = parseFieldSelector(q.get("fieldSelector"));
    return (o) => (!namespace || o.metadata.namespace === namespace) && label(o) && field(o);
  }

  private list(res: ServerResponse, q: URLSearchParams, r: Route, table: boolean) {
    const { type, namespace } = r;
    const match = this.matcher(q, namespace);
    const items = this.registry.store.list(type, namespace, match);
    const rv = this.registry.store.resourceVersion;
    // limit/continue: every list fits in one page here; a client that asked for a limit gets no continue token.
    if (table) return this.send(res, 200, toTable(type, items, rv, q.get("includeObject")));
    this.send(res, 200, {
      kind: `${type.kind}List`,
      apiVersion: apiVersionOf(type),
      metadata: { resourceVersion: rv },
      items,
    });
  }

  private watch(req: IncomingMessage, res: ServerResponse, q: URLSearchParams, r: Route, table: boolean) {
    const { type, namespace } = r;
    const store = this.registry.store;
    const match = this.matcher(q, namespace);
    const rvParam = q.get("resourceVersion") ?? "";
    if (rvParam !== "" && !/^\d+$/.test(rvParam))
      throw badRequest(`resourceVersion: ${JSON.stringify(rvParam)} is not a valid resource version`);
    const timeoutSeconds = intParam(q, "timeoutSeconds");
    const includeObject = q.get("includeObject");

    res.writeHead(200, {
      "Content-Type": "application/json",
      "Cache-Control": "no-cache, private",
      "Transfer-Encoding": "chunked",
    });
    res.flushHeaders();
    const write = (type2: WatchEventType | "BOOKMARK" | "ERROR", object: unknown) => {
      if (res.writableEnded) return;
      const out =
        table && (type2 === "ADDED" || type2 === "MODIFIED" || type2 === "DELETED")
          ? toTable(
              type,
              [object as KObject],
              (object as KObject).metadata.resourceVersion ?? "",
              includeObject,
            )
          : object;
      res.write(`${JSON.stringify({ type: type2, object: out })}\n`);
    };
    const deliver = (e: StoreEvent) => {
      if (e.resource !== type) return;
      const now = match(e.object);
      const before = e.prev !== undefined && match(e.prev);
      if (e.type === "ADDED") {
        if (now) write("ADDED", e.object);
      } else if (e.type === "DELETED") {
        if (now || before) write("DELETED", e.object);
      } else if (now && before) write("MODIFIED", e.object);
      else if (now) write("ADDED", e.object);
      // Left the selection: to this watcher the object is gone.
      else if (before) write("DELETED", e.object);
    };

    // Replay and subscription happen in one synchronous turn, so no write can fall between them.
    if (rvParam === "" || rvParam === "0") {
      for (const o of store.list(type, namespace, match)) write("ADDED", o);
      if (q.get("sendInitialEvents") === "true") {
        write("BOOKMARK", {
          kind: type.kind,
          apiVersion: apiVersionOf(type),
          metadata: {
            resourceVersion: store.resourceVersion,
            annotations: { "k8s.io/initial-events-end": "true" },
          },
        });
      }
    } else {
      const events = store.eventsSince(Number(rvParam));
      if (events === null) {
        // The real server answers 200 and then one ERROR event; informers relist on its code 410.
        write("ERROR", expired(rvParam, store.oldestResumable).status());
        res.end();
        return;
      }
      for (const e of events) deliver(e);
    }
    const unsubscribe = store.subscribe(deliver);
    this.watches.add(res);
    const timers: NodeJS.Timeout[] = [];
    if (q.get("allowWatchBookmarks") === "true") {
      timers.push(
        setInterval(
          () =>
            write("BOOKMARK", {
              kind: type.kind,
              apiVersion: apiVersionOf(type),
              metadata: { resourceVersion: store.resourceVersion },
            }),
          this.opts.bookmarkIntervalMs ?? 10_000,
        ),
      );
    }
    if (timeoutSeconds !== undefined && timeoutSeconds > 0) {
      timers.push(setTimeout(() => res.end(), timeoutSeconds * 1000));
    }
    const cleanup = () => {
      unsubscribe();
      for (const t of timers) clearTimeout(t);
      this.watches.delete(res);
    };
    res.once("close", cleanup);
    req.once("close", () => {
      cleanup();
      res.end();
    });
  }
}

function deleteOptions(q: URLSearchParams, body: unknown): DeleteOptions {
  const opts: DeleteOptions = {};
  const b = isRecord(body) ? body : {};
  const grace =
    intParam(q, "gracePeriodSeconds") ??
    (typeof b.gracePeriodSeconds === "number" ? b.gracePeriodSeconds : undefined);
  if (grace !== undefined) opts.gracePeriodSeconds = grace;
  const policy =
    q.get("propagationPolicy") ?? (typeof b.propagationPolicy === "string" ? b.propagationPolicy : undefined);
  if (policy !== undefined) {
    if (policy !== "Orphan" && policy !== "Background" && policy !== "Foreground")
      throw badRequest(`propagationPolicy: unknown value ${JSON.stringify(policy)}`);
    opts.propagationPolicy = policy;
  }
  if (isRecord(b.preconditions)) {
    const p = b.preconditions;
    opts.preconditions = {
      ...(typeof p.uid === "string" ? { uid: p.uid } : {}),
      ...(typeof p.resourceVersion === "string" ? { resourceVersion: p.resourceVersion } : {}),
    };
  }
  // kubectl --force --grace-period=0 sends grace 0; older clients send orphanDependents.
  if (b.orphanDependents === true && opts.propagationPolicy === undefined) opts.propagationPolicy = "Orphan";
  return opts;
}
