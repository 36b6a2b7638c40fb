import type { IncomingMessage } from "node:http";

/** What a caller may do; each scope includes the ones before it. */
export const SCOPES = ["read", "deploy", "admin"] as const;
export type Scope = (typeof SCOPES)[number];

/** Who is calling: a dashboard user (session cookie), an API token, or Ebb itself (engine transitions). */
export interface Principal {
  kind: "user" | "token" | "system";
  /** The user's or token's id; "system" for Ebb. */
  id: string;
  /** Username, token name, or "ebb". Shown in the audit history. */
  name: string;
  scope: Scope;
  /** For a token: the user who created it, if any (tokens seeded from EBB_ADMIN_TOKEN have none). */
  ownerId?: string;
  /** For a user: the id of the session row the request came with (not its secret). */
  sessionId?: string;
  /** For a token limited to some fleets: those fleets (absent: every fleet). */
  fleets?: readonly string[];
}

export const SYSTEM_PRINCIPAL: Principal = { kind: "system", id: "system", name: "ebb", scope: "admin" };

/** The auth guard sets `principal` as soon as the caller is identified, before any 403, for the audit. */
export type AuthenticatedRequest = IncomingMessage & { principal?: Principal };

export function scopeAllows(held: Scope, needed: Scope): boolean {
  return SCOPES.indexOf(held) >= SCOPES.indexOf(needed);
}
