import { looksSecret, REDACTED } from "./redact.js";

/** The methods whose requests are audited, allowed or denied. */
export const MUTATING_METHODS: ReadonlySet<string> = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** What an audit row says about the route a request hit. */
export interface RouteAudit {
  /** `POST /rollouts/:id/pause`: the pattern when the route is known, else the path as sent. */
  route: string;
  action: string;
  resourceType: string | null;
  resourceId: string | null;
}

/** Actions whose name the generic rule below would get wrong, keyed by `METHOD /pattern`. */
const OVERRIDES: Readonly<Record<string, { action: string; resourceType?: string }>> = {
  // A revoked token stays listed (revoked_at): it is not deleted.
  "DELETE /tokens/:id": { action: "token.revoke" },
  "POST /auth/login": { action: "auth.login", resourceType: "session" },
  "POST /auth/logout": { action: "auth.logout", resourceType: "session" },
};

/** For requests that matched no route (a 404): the action that says "we do not know what this was". */
export const UNMAPPED_ACTION = "http.request";

/**
 * The audit action of a mutating request, from its route pattern (relative to the API prefix):
 * `POST /rollouts` -> rollout.create, `POST /rollouts/:id/pause` -> rollout.pause, `PATCH /users/:id` ->
 * user.update, `DELETE /users/:id` -> user.delete, `DELETE /tokens/:id` -> token.revoke, `POST /auth/login`
 * -> auth.login. The resource is the first segment (singular) and the id its first parameter. Without a
 * pattern (no route matched), `http.request` with the path as sent.
 */
export function describeRoute(method: string, pattern: string | undefined, path: string): RouteAudit {
  if (pattern === undefined) {
    return {
      route: `${method} ${safePath(path)}`,
      action: UNMAPPED_ACTION,
      resourceType: null,
      resourceId: null,
    };
  }
  const parts = segments(pattern);
  const values = segments(path);
  const route = `${method} /${parts.join("/")}`;
  const literals = parts.filter((p) => !isParam(p));
  const first = literals[0];
  if (first === undefined || isParam(parts[0] ?? "")) {
    return { route, action: UNMAPPED_ACTION, resourceType: null, resourceId: null };
  }
  const paramAt = parts.findIndex(isParam);
  const raw = paramAt >= 0 && parts.length === values.length ? values[paramAt] : undefined;
  const resourceId = raw === undefined ? null : safeSegment(raw);
  const override = OVERRIDES[`${method} /${parts.map((p) => (isParam(p) ? ":id" : p)).join("/")}`];
  const resourceType = override?.resourceType ?? singular(first);
  const verbs = literals.slice(1);
  const action =
    override?.action ??
    (verbs.length > 0
      ? `${resourceType}.${verbs.join(".")}`
      : `${resourceType}.${verbFor(method, paramAt >= 0)}`);
  return { route, action, resourceType, resourceId };
}

/** A route registered with the HTTP server: its pattern (relative to the prefix) and methods. */
export interface KnownRoute {
  pattern: string;
  methods: ReadonlySet<string>;
}

/**
 * The pattern of the route a path would have hit. For requests refused before routing (a body the JSON
 * parser rejected, one too large), which therefore carry no matched route.
 */
export function matchRoute(routes: readonly KnownRoute[], method: string, path: string): string | undefined {
  const values = segments(path);
  for (const { pattern, methods } of routes) {
    if (!methods.has(method)) continue;
    const parts = segments(pattern);
    if (parts.length !== values.length) continue;
    if (parts.every((p, i) => isParam(p) || p === values[i])) return pattern;
  }
  return undefined;
}

/** Plain `:name` parameters only: a pattern with wildcards or optional parts is left to Express. */
export function isSimplePattern(pattern: string): boolean {
  return segments(pattern).every((p) => /^:?[A-Za-z0-9._~-]+$/.test(p));
}

function verbFor(method: string, hasId: boolean): string {
  if (method === "DELETE") return "delete";
  if (method === "POST" && !hasId) return "create";
  return "update";
}

function isParam(segment: string): boolean {
  return segment.startsWith(":");
}

function segments(path: string): string[] {
  return path.split("/").filter((s) => s !== "");
}

function singular(word: string): string {
  if (word.endsWith("ies")) return `${word.slice(0, -3)}y`;
  if (word.endsWith("s") && !word.endsWith("ss")) return word.slice(0, -1);
  return word;
}

function safeSegment(segment: string): string {
  let decoded = segment;
  try {
    decoded = decodeURIComponent(segment);
  } catch {
    // Malformed percent-encoding: keep it as sent.
  }
  return looksSecret(decoded) ? REDACTED : decoded.slice(0, 256);
}

/** A path as sent, for routes we do not know: each segment checked, the whole cut to a sane length. */
function safePath(path: string): string {
  const shown = `/${segments(path).map(safeSegment).join("/")}`;
  return shown.length > 512 ? `${shown.slice(0, 512)}…` : shown;
}
