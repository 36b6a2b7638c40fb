// Credentials in the database, on PGlite and PostgreSQL: the seeded admin token, the first admin, and
// what makes a token or a session stop working.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type TestDatabase, testDatabases } from "../../test-support/database.js";
import {
  authenticateSession,
  authenticateToken,
  principalStillValid,
  TOUCH_INTERVAL_MS,
} from "./credentials.js";
import { verifyPassword } from "./passwords.js";
import { generateApiToken, sha256Hex } from "./secrets.js";
import { createSession, SESSION_TTL_MS } from "./sessions.js";
import { createToken, SEEDED_TOKEN_NAME, seedAdminToken } from "./tokens.js";
import { createUser, ensureFirstAdmin } from "./users.js";

const DAY = 86_400_000;
const SEED = "operator-chosen-admin-token-1";

describe.each(testDatabases())("credentials on $kind", (variant) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await variant.open();
  });
  afterAll(async () => {
    await db?.drop();
  });
  beforeEach(async () => {
    await db.prisma.apiToken.deleteMany();
    await db.prisma.user.deleteMany();
  });

  it("seeds EBB_ADMIN_TOKEN as a non-expiring admin token, stored as its sha256 only, idempotently", async () => {
    const now = new Date();
    expect(await seedAdminToken(db.prisma, SEED, now)).toBe("created");
    expect(await seedAdminToken(db.prisma, SEED, now)).toBe("unchanged");
    const rows = await db.prisma.apiToken.findMany();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      name: SEEDED_TOKEN_NAME,
      scope: "admin",
      expiresAt: null,
      createdBy: null,
      hash: sha256Hex(SEED),
      prefix: "oper…",
    });
    expect(JSON.stringify(rows)).not.toContain(SEED);

    const auth = await authenticateToken(db.prisma, SEED, now);
    expect(auth?.principal).toEqual({
      kind: "token",
      id: rows[0]!.id,
      name: SEEDED_TOKEN_NAME,
      scope: "admin",
    });
    expect(auth?.expiresAt).toBeNull();
  });

  it("two API processes seeding at once end with one token", async () => {
    const now = new Date();
    const results = await Promise.all([
      seedAdminToken(db.prisma, SEED, now),
      seedAdminToken(db.prisma, SEED, now),
    ]);
    expect([...results].sort()).toEqual(["created", "unchanged"]);
    expect(await db.prisma.apiToken.count()).toBe(1);
  });

  it("rotating or unsetting EBB_ADMIN_TOKEN revokes the old seed; a seed revoked through the API stays revoked", async () => {
    const now = new Date();
    await seedAdminToken(db.prisma, SEED, now);
    expect(await seedAdminToken(db.prisma, `${SEED}-rotated`, now)).toBe("created");
    expect(await authenticateToken(db.prisma, SEED, now)).toBeNull();
    expect(await authenticateToken(db.prisma, `${SEED}-rotated`, now)).not.toBeNull();

    expect(await seedAdminToken(db.prisma, undefined, now)).toBe("none");
    expect(await authenticateToken(db.prisma, `${SEED}-rotated`, now)).toBeNull();

    // The old value again: it was revoked, and a leaked value must not come back with a restart.
    expect(await seedAdminToken(db.prisma, SEED, now)).toBe("revoked-kept");
    expect(await authenticateToken(db.prisma, SEED, now)).toBeNull();
  });

  it("tokens made by the seeded token (and what they made) die when EBB_ADMIN_TOKEN is rotated", async () => {
    const now = new Date();
    await seedAdminToken(db.prisma, SEED, now);
    const seed = await db.prisma.apiToken.findUniqueOrThrow({ where: { hash: sha256Hex(SEED) } });
    const child = await createToken(
      db.prisma,
      { name: "ci", scope: "deploy", createdBy: null, parentTokenId: seed.id },
      now,
    );
    const grandchild = await createToken(
      db.prisma,
      { name: "ci-2", scope: "read", createdBy: null, parentTokenId: child.token.id },
      now,
    );
    expect(await authenticateToken(db.prisma, grandchild.value, now)).not.toBeNull();

    await seedAdminToken(db.prisma, `${SEED}-rotated`, now);
    expect(await authenticateToken(db.prisma, child.value, now)).toBeNull();
    expect(await authenticateToken(db.prisma, grandchild.value, now)).toBeNull();
  });

  it("creates the first admin only when no user exists, and refuses a weak password", async () => {
    await expect(ensureFirstAdmin(db.prisma, { username: "admin", password: "short" })).rejects.toThrow(
      /password: must be at least 12/,
    );
    await expect(
      ensureFirstAdmin(db.prisma, { username: "Admin!", password: "long enough pw" }),
    ).rejects.toThrow(/username:/);
    const both = await Promise.all([
      ensureFirstAdmin(db.prisma, { username: "root", password: "first admin password" }),
      ensureFirstAdmin(db.prisma, { username: "root", password: "first admin password" }),
    ]);
    expect(both.filter(Boolean)).toHaveLength(1);
    expect(await ensureFirstAdmin(db.prisma, { username: "other", password: "first admin password" })).toBe(
      false,
    );
    const users = await db.prisma.user.findMany();
    expect(users.map((u) => [u.username, u.role])).toEqual([["root", "admin"]]);
    expect(users[0]!.passwordHash).toMatch(/^scrypt\$32768\$8\$1\$/);
    expect(await verifyPassword("first admin password", users[0]!.passwordHash)).toBe(true);
  });

  it("a token stops working when revoked, expired, or its creator is disabled; it never exceeds its creator's role", async () => {
    const now = new Date();
    const alice = await createUser(db.prisma, {
      username: "alice",
      password: "alice password 1",
      role: "deploy",
    });
    const { token, value } = await createToken(
      db.prisma,
      { name: "ci", scope: "deploy", createdBy: alice.id },
      now,
    );
    expect(value).not.toBe(token.hash);
    expect(token.hash).toBe(sha256Hex(value));
    expect(token.expiresAt?.getTime()).toBe(now.getTime() + 30 * DAY);
    const principal = (await authenticateToken(db.prisma, value, now))!.principal;
    expect(principal).toEqual({
      kind: "token",
      id: token.id,
      name: "ci",
      scope: "deploy",
      ownerId: alice.id,
    });

    // Demoting the creator demotes the token; a watcher holding the deploy principal sees it invalid.
    await db.prisma.user.update({ where: { id: alice.id }, data: { role: "read" } });
    expect((await authenticateToken(db.prisma, value, now))?.principal.scope).toBe("read");
    expect(await principalStillValid(db.prisma, principal, now)).toBe(false);
    await db.prisma.user.update({ where: { id: alice.id }, data: { role: "deploy" } });
    expect(await principalStillValid(db.prisma, principal, now)).toBe(true);

    await db.prisma.user.update({ where: { id: alice.id }, data: { disabledAt: now } });
    expect(await authenticateToken(db.prisma, value, now)).toBeNull();
    await db.prisma.user.update({ where: { id: alice.id }, data: { disabledAt: null } });

    expect(await authenticateToken(db.prisma, value, new Date(now.getTime() + 30 * DAY))).toBeNull();
    expect(await authenticateToken(db.prisma, value, new Date(now.getTime() + 30 * DAY - 1))).not.toBeNull();

    await db.prisma.apiToken.update({ where: { id: token.id }, data: { revokedAt: now } });
    expect(await authenticateToken(db.prisma, value, now)).toBeNull();
    expect(await principalStillValid(db.prisma, principal, now)).toBe(false);
    expect(await authenticateToken(db.prisma, generateApiToken(), now)).toBeNull();

    // Deleting the creator deletes the tokens they made.
    await createToken(db.prisma, { name: "ci2", scope: "read", createdBy: alice.id }, now);
    await db.prisma.user.delete({ where: { id: alice.id } });
    expect(await db.prisma.apiToken.count({ where: { createdBy: alice.id } })).toBe(0);
  });

  it("expiry: 30 days by default, at most 365, never past the maker's own expiry", async () => {
    const now = new Date();
    await expect(
      createToken(db.prisma, { name: "x", scope: "read", createdBy: null, expiresInDays: 366 }, now),
    ).rejects.toThrow(/expiresInDays/);
    const year = await createToken(
      db.prisma,
      { name: "y", scope: "read", createdBy: null, expiresInDays: 365 },
      now,
    );
    expect(year.token.expiresAt?.getTime()).toBe(now.getTime() + 365 * DAY);
    const capped = await createToken(
      db.prisma,
      { name: "z", scope: "read", createdBy: null, notAfter: new Date(now.getTime() + DAY) },
      now,
    );
    expect(capped.token.expiresAt?.getTime()).toBe(now.getTime() + DAY);
  });

  it("last_used_at moves at most once a minute", async () => {
    const t0 = new Date();
    const { token, value } = await createToken(db.prisma, { name: "ci", scope: "read", createdBy: null }, t0);
    expect(token.lastUsedAt).toBeNull();
    await authenticateToken(db.prisma, value, t0);
    const used = async () =>
      (await db.prisma.apiToken.findUniqueOrThrow({ where: { id: token.id } })).lastUsedAt;
    expect((await used())?.getTime()).toBe(t0.getTime());
    await authenticateToken(db.prisma, value, new Date(t0.getTime() + TOUCH_INTERVAL_MS - 1));
    expect((await used())?.getTime()).toBe(t0.getTime());
    const later = new Date(t0.getTime() + TOUCH_INTERVAL_MS + 1);
    await authenticateToken(db.prisma, value, later);
    expect((await used())?.getTime()).toBe(later.getTime());
  });

  it("a session works for 12 hours, with its CSRF token, until logout or the user is disabled", async () => {
    const now = new Date();
    const bob = await createUser(db.prisma, { username: "bob", password: "bob's password", role: "read" });
    const { session, cookieValue } = await createSession(db.prisma, bob.id, now);
    expect(session.hash).toBe(sha256Hex(cookieValue));
    expect(Buffer.from(cookieValue, "base64url")).toHaveLength(32);
    expect(session.expiresAt.getTime() - now.getTime()).toBe(SESSION_TTL_MS);
    const auth = await authenticateSession(db.prisma, cookieValue, now);
    expect(auth).toMatchObject({
      via: "session",
      csrfToken: session.csrfToken,
      principal: { kind: "user", id: bob.id, name: "bob", scope: "read", sessionId: session.id },
    });
    expect(
      await authenticateSession(db.prisma, cookieValue, new Date(now.getTime() + SESSION_TTL_MS)),
    ).toBeNull();
    expect(
      await principalStillValid(db.prisma, auth!.principal, new Date(now.getTime() + SESSION_TTL_MS)),
    ).toBe(false);

    await db.prisma.user.update({ where: { id: bob.id }, data: { disabledAt: now } });
    expect(await authenticateSession(db.prisma, cookieValue, now)).toBeNull();
    await db.prisma.user.update({ where: { id: bob.id }, data: { disabledAt: null } });
    expect(await principalStillValid(db.prisma, auth!.principal, now)).toBe(true);

    await db.prisma.session.delete({ where: { id: session.id } });
    expect(await authenticateSession(db.prisma, cookieValue, now)).toBeNull();
    expect(await principalStillValid(db.prisma, auth!.principal, now)).toBe(false);
  });
});
