import type { IncomingMessage, ServerResponse } from "node:http";
import type { DeepPartialConfig, DeviceConfig } from "../config.js";
import { renderMetrics } from "../metrics.js";
import type {
  AdminState,
  CountersView,
  DeviceEvent,
  RealServerSpec,
  ServerView,
  SessionView,
} from "../types.js";
import { HttpError, readJsonBody, sendJson, sendText } from "./http-util.js";
import { streamEvents } from "./sse.js";

/** What the admin API drives of the device (L4Device implements it; declared here so the two don't import each other). */
export interface AdminDevice {
  readonly config: DeviceConfig;
  updateConfig(patch: DeepPartialConfig): DeviceConfig;
  servers(): ServerView[];
  server(name: string): ServerView | undefined;
  addServer(spec: RealServerSpec): ServerView;
  removeServer(name: string): void;
  setAdminState(name: string, state: AdminState): ServerView;
  sessions(server?: string, limit?: number): SessionView[];
  counters(): CountersView;
  events(sinceSeq?: number): DeviceEvent[];
  onEvent(listener: (e: DeviceEvent) => void): () => void;
}

export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: Record<string, string>;
  device: AdminDevice;
  sseStreams: Set<ServerResponse>;
}

type Handler = (ctx: RequestContext) => Promise<void> | void;

interface Route {
  /** Path segments; `:name` captures one (URL-decoded). */
  pattern: string[];
  methods: Partial<Record<string, Handler>>;
}

const DEFAULT_SESSION_LIMIT = 1000;

const routes: Route[] = [
  {
    pattern: ["healthz"],
    methods: { GET: ({ res }) => sendJson(res, 200, { ok: true }) },
  },
  {
    pattern: ["config"],
    methods: {
      GET: ({ res, device }) => sendJson(res, 200, device.config),
      PATCH: async ({ req, res, device }) => {
        const patch = await readJsonBody(req);
        sendJson(res, 200, device.updateConfig(patch as Parameters<AdminDevice["updateConfig"]>[0]));
      },
    },
  },
  {
    pattern: ["servers"],
    methods: {
      GET: ({ res, device }) => sendJson(res, 200, device.servers()),
      POST: async ({ req, res, device }) => {
        const spec = await readJsonBody(req);
        sendJson(res, 201, device.addServer(spec as Parameters<AdminDevice["addServer"]>[0]));
      },
    },
  },
  {
    pattern: ["servers", ":name"],
    methods: {
      GET: ({ res, device, params }) => {
        const view = device.server(params.name!);
        if (!view) throw notFoundServer(params.name!);
        sendJson(res, 200, view);
      },
      DELETE: ({ res, device, params }) => {
        device.removeServer(params.name!);
        res.writeHead(204).end();
      },
    },
  },
  {
    pattern: ["servers", ":name", "disable"],
    methods: {
      POST: ({ res, device, params }) => sendJson(res, 200, device.setAdminState(params.name!, "disabled")),
    },
  },
  {
    pattern: ["servers", ":name", "enable"],
    methods: {
      POST: ({ res, device, params }) => sendJson(res, 200, device.setAdminState(params.name!, "enabled")),
    },
  },
  {
    pattern: ["sessions"],
    methods: {
      GET: ({ res, device, url }) => {
        const server = url.searchParams.get("server") ?? undefined;
        const limit = intParam(url, "limit") ?? DEFAULT_SESSION_LIMIT;
        const { totals, servers } = device.counters();
        if (server !== undefined && !servers[server]) throw notFoundServer(server);
        const perServer = Object.fromEntries(
          Object.entries(servers).map(([name, c]) => [name, c.sessionsActive]),
        );
        const total = server === undefined ? totals.sessionsActive : (perServer[server] ?? 0);
        sendJson(res, 200, { total, perServer, entries: device.sessions(server, limit) });
      },
    },
  },
  {
    pattern: ["counters"],
    methods: { GET: ({ res, device }) => sendJson(res, 200, device.counters()) },
  },
  {
    pattern: ["events"],
    methods: {
      GET: ({ req, res, device, url, sseStreams }) => {
        const since = intParam(url, "since");
        if (url.searchParams.get("format") === "json") {
          sendJson(res, 200, device.events(since ?? 0));
          return;
        }
        const lastEventId = req.headers["last-event-id"];
        const fromHeader =
          typeof lastEventId === "string" && /^\d+$/.test(lastEventId) ? Number(lastEventId) : undefined;
        streamEvents(res, device, fromHeader ?? since, sseStreams);
      },
    },
  },
  {
    pattern: ["metrics"],
    methods: {
      GET: ({ res, device }) =>
        sendText(res, 200, "text/plain; version=0.0.4; charset=utf-8", renderMetrics(device)),
    },
  },
];

/** Finds the handler for a request, or throws the 404/405 the API answers with. */
export function route(
  method: string,
  pathname: string,
): { handler: Handler; params: Record<string, string> } {
  const segments = pathname.split("/").filter((s) => s !== "");
  for (const r of routes) {
    const params = match(r.pattern, segments);
    if (!params) continue;
    const handler = r.methods[method];
    if (!handler) {
      const allow = Object.keys(r.methods).join(", ");
      throw new HttpError(
        405,
        "method_not_allowed",
        `${method} is not allowed on ${pathname} (allowed: ${allow})`,
        [],
        {
          allow,
        },
      );
    }
    return { handler, params };
  }
  throw new HttpError(404, "not_found", `no such endpoint: ${pathname}`);
}

function match(pattern: string[], segments: string[]): Record<string, string> | undefined {
  if (pattern.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    const s = segments[i]!;
    if (p.startsWith(":")) {
      try {
        params[p.slice(1)] = decodeURIComponent(s);
      } catch (err) {
        throw new HttpError(
          400,
          "invalid_body",
          `malformed URL encoding in ${JSON.stringify(s)}: ${(err as Error).message}`,
        );
      }
    } else if (p !== s) {
      return undefined;
    }
  }
  return params;
}

function intParam(url: URL, name: string): number | undefined {
  const raw = url.searchParams.get(name);
  if (raw === null) return undefined;
  if (!/^\d+$/.test(raw)) {
    throw new HttpError(400, "invalid_body", `query parameter ${name} must be a non-negative integer`, [
      { field: name, message: "must be a non-negative integer" },
    ]);
  }
  return Number(raw);
}

function notFoundServer(name: string): HttpError {
  return new HttpError(404, "not_found", `no real server named ${JSON.stringify(name)}`);
}
