import { TOKEN_DEFAULT_EXPIRY_DAYS, TOKEN_MAX_EXPIRY_DAYS, type TokenView } from "@ebb/contracts";
import type { Db } from "../database/client.js";
import { type ApiToken, Prisma } from "../generated/prisma/client.js";
import type { Scope } from "./principal.js";
import { generateApiToken, sha256Hex, tokenPrefix } from "./secrets.js";

/** The name of the token seeded from EBB_ADMIN_TOKEN; it has no creator and no expiry. */
export const SEEDED_TOKEN_NAME = "EBB_ADMIN_TOKEN";

const DAY_MS = 86_400_000;

export interface NewToken {
  name: string;
  scope: Scope;
  /** Default 30, at most 365. */
  expiresInDays?: number;
  createdBy: string | null;
  /** A token made by a token lives no longer than its maker (it could otherwise outlive a revocation plan). */
  notAfter?: Date | null;
  /** The token that made it: revoking (or rotating) that one revokes this one too. */
  parentTokenId?: string | null;
  /** The fleets it may act on; empty or absent: every fleet. */
  fleets?: readonly string[];
}

/** Creates a token; the value is in the result only (it is never stored, only its sha256). */
export async function createToken(
  db: Db,
  spec: NewToken,
  now: Date,
): Promise<{ token: ApiToken; value: string }> {
  const days = spec.expiresInDays ?? TOKEN_DEFAULT_EXPIRY_DAYS;
  if (!Number.isInteger(days) || days < 1 || days > TOKEN_MAX_EXPIRY_DAYS) {
    throw new RangeError(`expiresInDays: must be a whole number from 1 to ${TOKEN_MAX_EXPIRY_DAYS}`);
  }
  let expiresAt = new Date(now.getTime() + days * DAY_MS);
  if (spec.notAfter && spec.notAfter.getTime() < expiresAt.getTime()) expiresAt = spec.notAfter;
  const value = generateApiToken();
  const token = await db.apiToken.create({
    data: {
      name: spec.name,
      prefix: tokenPrefix(value),
      hash: sha256Hex(value),
      scope: spec.scope,
      createdBy: spec.createdBy,
      createdAt: now,
      expiresAt,
      parentTokenId: spec.parentTokenId ?? null,
      fleets: [...(spec.fleets ?? [])],
    },
  });
  return { token, value };
}

export function tokenView(token: ApiToken): TokenView {
  return {
    id: token.id,
    name: token.name,
    prefix: token.prefix,
    scope: token.scope as TokenView["scope"],
    createdBy: token.createdBy,
    createdAt: token.createdAt.toISOString(),
    expiresAt: token.expiresAt?.toISOString() ?? null,
    lastUsedAt: token.lastUsedAt?.toISOString() ?? null,
    revokedAt: token.revokedAt?.toISOString() ?? null,
    fleets: token.fleets,
  };
}

/**
 * Revokes tokens and, generation by generation, every token they made: a token handed to CI by a token
 * that is later revoked (or by the seeded EBB_ADMIN_TOKEN, later rotated) must not keep working.
 * Returns the ids revoked now (for closing their streams).
 */
export async function revokeWithDescendants(db: Db, ids: readonly string[], now: Date): Promise<string[]> {
  const revoked: string[] = [];
  let frontier = [...ids];
  const seen = new Set<string>();
  while (frontier.length > 0) {
    frontier = frontier.filter((id) => !seen.has(id));
    for (const id of frontier) seen.add(id);
    if (frontier.length === 0) break;
    await db.apiToken.updateMany({
      where: { id: { in: frontier }, revokedAt: null },
      data: { revokedAt: now },
    });
    revoked.push(...frontier);
    const children = await db.apiToken.findMany({
      where: { parentTokenId: { in: frontier } },
      select: { id: true },
    });
    frontier = children.map((c) => c.id);
  }
  return revoked;
}

export type SeedResult = "created" | "unchanged" | "revoked-kept" | "none";

/**
 * Makes EBB_ADMIN_TOKEN's value an admin token with no expiry, and revokes any token seeded from an earlier
 * value (rotating the variable must end the old one; with the variable unset, no seeded token works).
 * A seeded token an admin revoked stays revoked: a leaked value must not come back with a restart, so
 * "revoked-kept" asks the operator for a new value.
 */
export async function seedAdminToken(db: Db, value: string | undefined, now: Date): Promise<SeedResult> {
  const hash = value === undefined ? undefined : sha256Hex(value);
  const rotated = await db.apiToken.findMany({
    where: {
      name: SEEDED_TOKEN_NAME,
      createdBy: null,
      expiresAt: null,
      ...(hash === undefined ? {} : { hash: { not: hash } }),
    },
    select: { id: true },
  });
  // Earlier seeds, and everything they made (also after an earlier rotation revoked only the seed).
  await revokeWithDescendants(
    db,
    rotated.map((t) => t.id),
    now,
  );
  if (value === undefined || hash === undefined) return "none";

  for (let attempt = 0; ; attempt++) {
    const existing = await db.apiToken.findUnique({ where: { hash } });
    if (existing !== null) {
      if (existing.revokedAt !== null) return "revoked-kept";
      // The same value may once have been made a token by hand; as the seed it is admin and does not expire.
      if (existing.scope !== "admin" || existing.expiresAt !== null || existing.name !== SEEDED_TOKEN_NAME) {
        await db.apiToken.update({
          where: { id: existing.id },
          data: { scope: "admin", expiresAt: null, name: SEEDED_TOKEN_NAME, createdBy: null },
        });
      }
      return "unchanged";
    }
    try {
      await db.apiToken.create({
        data: {
          name: SEEDED_TOKEN_NAME,
          prefix: tokenPrefix(value),
          hash,
          scope: "admin",
          createdBy: null,
          createdAt: now,
          expiresAt: null,
        },
      });
      return "created";
    } catch (err) {
      // Another API process seeded the same value between our read and our insert: read it again.
      const raced = err instanceof Prisma.PrismaClientKnownRequestError && err.code === "P2002";
      if (!raced || attempt > 0) throw err;
    }
  }
}
