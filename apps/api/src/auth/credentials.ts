import type { Db } from "../database/client.js";
import type { ApiToken, Session, User } from "../generated/prisma/client.js";
import { type Principal, SCOPES, type Scope, scopeAllows } from "./principal.js";
import { sha256Hex } from "./secrets.js";

/** A caller identified by a credential, and what the guard needs beyond the principal. */
export interface Authenticated {
  principal: Principal;
  via: "token" | "session";
  /** Sessions only: what X-CSRF-Token must equal on state-changing requests. */
  csrfToken?: string;
  /** When the credential stops working by itself; null for the seeded admin token. */
  expiresAt: Date | null;
}

/** last_used_at / last_seen_at move at most this often: a busy CI token must not write on every call. */
export const TOUCH_INTERVAL_MS = 60_000;

export function isScope(value: string): value is Scope {
  return (SCOPES as readonly string[]).includes(value);
}

function lowerScope(a: Scope, b: Scope): Scope {
  return scopeAllows(a, b) ? b : a;
}

/**
 * The principal of a token row, or null when the token must not work now: revoked, expired, its creator
 * disabled, or an unknown scope in the row (deny rather than guess). A token never does more than its
 * creator's current role: demoting a user demotes their tokens.
 */
export function tokenPrincipal(
  token: ApiToken & { creator: User | null; parent?: ApiToken | null },
  now: Date,
): Authenticated | null {
  if (token.revokedAt !== null) return null;
  // Revocation cascades when it happens; this catches a parent revoked by an older version.
  if (token.parent && token.parent.revokedAt !== null) return null;
  if (token.expiresAt !== null && token.expiresAt.getTime() <= now.getTime()) return null;
  if (!isScope(token.scope)) return null;
  let scope = token.scope;
  if (token.creator !== null) {
    if (token.creator.disabledAt !== null || !isScope(token.creator.role)) return null;
    scope = lowerScope(scope, token.creator.role);
  }
  return {
    principal: {
      kind: "token",
      id: token.id,
      name: token.name,
      scope,
      ...(token.createdBy === null ? {} : { ownerId: token.createdBy }),
      ...(token.fleets.length > 0 ? { fleets: token.fleets } : {}),
    },
    via: "token",
    expiresAt: token.expiresAt,
  };
}

export function sessionPrincipal(session: Session & { user: User }, now: Date): Authenticated | null {
  if (session.expiresAt.getTime() <= now.getTime()) return null;
  const { user } = session;
  if (user.disabledAt !== null || !isScope(user.role)) return null;
  return {
    principal: { kind: "user", id: user.id, name: user.username, scope: user.role, sessionId: session.id },
    via: "session",
    csrfToken: session.csrfToken,
    expiresAt: session.expiresAt,
  };
}

/** The caller behind an API token value (the whole `Authorization: Bearer` value), or null. */
export async function authenticateToken(db: Db, value: string, now: Date): Promise<Authenticated | null> {
  const token = await db.apiToken.findUnique({
    where: { hash: sha256Hex(value) },
    include: { creator: true, parent: true },
  });
  if (token === null) return null;
  const found = tokenPrincipal(token, now);
  if (found !== null && (token.lastUsedAt === null || stale(token.lastUsedAt, now))) {
    await db.apiToken.updateMany({
      where: { id: token.id, OR: [{ lastUsedAt: null }, { lastUsedAt: { lt: touchBefore(now) } }] },
      data: { lastUsedAt: now },
    });
  }
  return found;
}

/** The caller behind a session cookie value, or null. */
export async function authenticateSession(db: Db, value: string, now: Date): Promise<Authenticated | null> {
  const session = await db.session.findUnique({ where: { hash: sha256Hex(value) }, include: { user: true } });
  if (session === null) return null;
  const found = sessionPrincipal(session, now);
  if (found !== null && stale(session.lastSeenAt, now)) {
    await db.session.updateMany({
      where: { id: session.id, lastSeenAt: { lt: touchBefore(now) } },
      data: { lastSeenAt: now },
    });
  }
  return found;
}

function touchBefore(now: Date): Date {
  return new Date(now.getTime() - TOUCH_INTERVAL_MS);
}

function stale(last: Date, now: Date): boolean {
  return last.getTime() < touchBefore(now).getTime();
}

/**
 * Whether the credential behind a principal still works, with at least the scope it had: what an open
 * stream re-checks. Keyed by row id, so it needs no secret. A "system" principal is always valid.
 */
export async function principalStillValid(db: Db, principal: Principal, now: Date): Promise<boolean> {
  let current: Authenticated | null;
  if (principal.kind === "token") {
    const token = await db.apiToken.findUnique({
      where: { id: principal.id },
      include: { creator: true, parent: true },
    });
    current = token === null ? null : tokenPrincipal(token, now);
  } else if (principal.kind === "user") {
    if (principal.sessionId === undefined) {
      const user = await db.user.findUnique({ where: { id: principal.id } });
      return (
        user !== null &&
        user.disabledAt === null &&
        isScope(user.role) &&
        scopeAllows(user.role, principal.scope)
      );
    }
    const session = await db.session.findUnique({
      where: { id: principal.sessionId },
      include: { user: true },
    });
    current = session === null ? null : sessionPrincipal(session, now);
  } else {
    return true;
  }
  return current !== null && scopeAllows(current.principal.scope, principal.scope);
}
