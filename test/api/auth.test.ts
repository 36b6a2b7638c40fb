// issue #4 §2: users, sessions with CSRF, API tokens with scopes, expiry and revocation, deny by default.
// The whole app on a real HTTP socket, PGlite and an embedded Redis; every credential goes over the wire.
import { randomUUID } from "node:crypto";
import type { CreateTokenResponse, LoginResponse, MeResponse, TokenView, UserView } from "@ebb/contracts";
import { waitFor } from "@ebb/testkit";
import { Agent, fetch, type Response } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CredentialWatch } from "../../apps/api/src/auth/credential-watch.js";
import { API_TOKEN_PATTERN } from "../../apps/api/src/auth/secrets.js";
import { REDIS_CONNECTION } from "../../apps/api/src/common/tokens.js";
import type { RedisConnections } from "../../apps/api/src/redis/connections.js";
import {
  type AuthTestApp,
  createProbeModule,
  type ProbeAnswer,
  startAuthTestApp,
} from "../../apps/api/test-support/auth.js";

// What an audit middleware sees: the principal the guard set, on every answer.
const answered: ProbeAnswer[] = [];
const ProbeModule = createProbeModule(answered);

const HOST = "127.0.60.1";
const ADMIN_TOKEN = "auth-test-admin-token-0123456789";
const ADMIN_PASSWORD = "first admin password 42";

let t: AuthTestApp;
/** Every response body and header (but Set-Cookie) the tests saw: no secret may be in any of them. */
const seen: string[] = [];
/** Every secret the tests used or received. */
const secrets = new Set<string>([ADMIN_TOKEN, ADMIN_PASSWORD]);

beforeAll(async () => {
  t = await startAuthTestApp({
    host: HOST,
    env: { EBB_ADMIN_TOKEN: ADMIN_TOKEN, EBB_ADMIN_PASSWORD: ADMIN_PASSWORD, EBB_ADMIN_USER: "root" },
    modules: [ProbeModule],
  });
  // Revocations by this process must close streams at once: keep the database re-check out of the way.
  t.app.get(CredentialWatch).recheckIntervalMs = 600_000;
});
/** Open event streams: cancelled before the app closes, which waits for responses in flight. */
const streams: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cancel of streams.splice(0)) await cancel();
  for (const agent of agents.values()) await agent.close();
  await t?.close();
});

interface CallOptions {
  token?: string;
  cookie?: string;
  csrf?: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** The client's own address: the login throttle counts per address. */
  from?: string;
}

const agents = new Map<string, Agent>();
function agentFrom(address: string): Agent {
  let agent = agents.get(address);
  if (!agent) {
    agent = new Agent({ localAddress: address });
    agents.set(address, agent);
  }
  return agent;
}

async function request(method: string, route: string, o: CallOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { ...o.headers };
  if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`;
  if (o.cookie !== undefined) headers.cookie = o.cookie;
  if (o.csrf !== undefined) headers["x-csrf-token"] = o.csrf;
  if (o.body !== undefined) headers["content-type"] ??= "application/json";
  return fetch(`${t.apiUrl}${route}`, {
    method,
    headers,
    ...(o.body === undefined ? {} : { body: typeof o.body === "string" ? o.body : JSON.stringify(o.body) }),
    ...(o.from === undefined ? {} : { dispatcher: agentFrom(o.from) }),
  });
}

async function call<T = { error: { code: string; message: string; details: unknown } }>(
  method: string,
  route: string,
  o: CallOptions = {},
): Promise<{ status: number; body: T; headers: Response["headers"] }> {
  const res = await request(method, route, o);
  const text = await res.text();
  // The one answer that carries a secret by design: a new token's value, shown once.
  const showsNewToken = method === "POST" && route === "/tokens" && res.status === 201;
  if (!showsNewToken) seen.push(text);
  for (const [name, value] of res.headers) if (name !== "set-cookie") seen.push(`${name}: ${value}`);
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T, headers: res.headers };
}

async function login(username: string, password: string, o: CallOptions = {}) {
  const res = await call<LoginResponse>("POST", "/auth/login", { body: { username, password }, ...o });
  const setCookie = res.headers.get("set-cookie") ?? "";
  const value = /^ebb_session=([^;]*)/.exec(setCookie)?.[1];
  if (value) secrets.add(value);
  return { ...res, setCookie, cookie: value === undefined ? undefined : `ebb_session=${value}` };
}

async function newToken(scope: "read" | "deploy" | "admin", o: CallOptions = { token: ADMIN_TOKEN }) {
  const res = await call<CreateTokenResponse>("POST", "/tokens", {
    ...o,
    body: { name: `t-${scope}`, scope },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  secrets.add(res.body.token);
  return res.body;
}

async function newUser(username: string, role: "read" | "deploy" | "admin") {
  const password = `${username}-password-${randomUUID().slice(0, 8)}`;
  secrets.add(password);
  const res = await call<UserView>("POST", "/users", {
    token: ADMIN_TOKEN,
    body: { username, password, role },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { ...res.body, password };
}

describe("authentication", () => {
  it("answers 401 unauthenticated without a credential or with a bad one, and knows the seeded admin token", async () => {
    const none = await call("GET", "/auth/me");
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe("unauthenticated");
    for (const token of ["nope", `${ADMIN_TOKEN}x`, "ebb_AAAAAAAA_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"]) {
      const bad = await call("GET", "/auth/me", { token });
      expect(bad.status).toBe(401);
      expect(bad.body.error.code).toBe("unauthenticated");
    }
    const basic = await call("GET", "/auth/me", { headers: { authorization: `Basic ${ADMIN_TOKEN}` } });
    expect(basic.status).toBe(401);

    const me = await call<MeResponse>("GET", "/auth/me", { token: ADMIN_TOKEN });
    expect(me.status).toBe(200);
    expect(me.body).toEqual({
      principal: { kind: "token", id: expect.any(String), name: "EBB_ADMIN_TOKEN", scope: "admin" },
      csrfToken: null,
    });
    // Public routes need nothing, and a bad credential does not close them.
    expect((await call("GET", "/health/live")).status).toBe(200);
    expect((await call("GET", "/health/live", { token: "nope" })).status).toBe(200);
  });

  it("logs the first admin in: a session cookie HttpOnly, SameSite=Strict, Path=/, and a CSRF token", async () => {
    const res = await login("root", ADMIN_PASSWORD);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toEqual({
      user: { id: expect.any(String), username: "root", role: "admin" },
      csrfToken: expect.any(String),
    });
    const attributes = res.setCookie.split(";").map((a) => a.trim());
    expect(attributes).toEqual(
      expect.arrayContaining(["HttpOnly", "SameSite=Strict", "Path=/", `Max-Age=${12 * 3600}`]),
    );
    expect(attributes).not.toContain("Secure");
    expect(res.cookie).toMatch(/^ebb_session=[A-Za-z0-9_-]{43}$/);

    const me = await call<MeResponse>("GET", "/auth/me", { cookie: res.cookie! });
    expect(me.body).toEqual({
      principal: { kind: "user", id: res.body.user.id, name: "root", scope: "admin" },
      csrfToken: res.body.csrfToken,
    });
  });

  it("refuses a cookie-authenticated state change without the session's X-CSRF-Token (403 csrf_failed)", async () => {
    const { cookie, body } = await login("root", ADMIN_PASSWORD);
    const tokenBody = { name: "from-dashboard", scope: "read" };

    const without = await call("POST", "/tokens", { cookie: cookie!, body: tokenBody });
    expect(without.status).toBe(403);
    expect(without.body.error.code).toBe("csrf_failed");
    const wrong = await call("POST", "/tokens", {
      cookie: cookie!,
      csrf: `${body.csrfToken}x`,
      body: tokenBody,
    });
    expect(wrong.body.error.code).toBe("csrf_failed");
    const other = await login("root", ADMIN_PASSWORD);
    const foreign = await call("POST", "/tokens", {
      cookie: cookie!,
      csrf: other.body.csrfToken,
      body: tokenBody,
    });
    expect(foreign.body.error.code).toBe("csrf_failed");

    // What a cross-site form would send: the cookie (were SameSite ignored), a form body, another Origin.
    const crossSite = await call("POST", `/rollouts/${randomUUID()}/abort`, {
      cookie: cookie!,
      body: "reason=pwned",
      headers: { "content-type": "application/x-www-form-urlencoded", origin: "http://evil.example" },
    });
    expect(crossSite.status).toBe(403);
    expect(crossSite.body.error.code).toBe("csrf_failed");

    const ok = await call<CreateTokenResponse>("POST", "/tokens", {
      cookie: cookie!,
      csrf: body.csrfToken,
      body: tokenBody,
    });
    expect(ok.status).toBe(201);
    secrets.add(ok.body.token);
    expect(ok.body.createdBy).toBe(body.user.id);
    // Reads need no CSRF token; a bearer token needs none (no ambient credential), and wins over a cookie.
    expect((await call("GET", "/tokens", { cookie: cookie! })).status).toBe(200);
    expect(
      (await call("POST", "/tokens", { token: ADMIN_TOKEN, cookie: cookie!, body: tokenBody })).status,
    ).toBe(201);
    // A bad bearer token is not replaced by a good cookie.
    expect((await call("GET", "/auth/me", { token: "nope", cookie: cookie! })).status).toBe(401);
  });

  it("login refuses what a cross-site page could send: no JSON content type, a foreign Origin", async () => {
    const body = JSON.stringify({ username: "root", password: ADMIN_PASSWORD });
    const plain = await call("POST", "/auth/login", { body, headers: { "content-type": "text/plain" } });
    expect(plain.status).toBe(403);
    expect(plain.body.error.code).toBe("csrf_failed");
    const form = await call("POST", "/auth/login", {
      body: "username=root",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(form.body.error.code).toBe("csrf_failed");
    const foreign = await call("POST", "/auth/login", { body, headers: { origin: "http://evil.example" } });
    expect(foreign.body.error.code).toBe("csrf_failed");
    const crossSite = await call("POST", "/auth/login", {
      body,
      headers: { "sec-fetch-site": "cross-site" },
    });
    expect(crossSite.body.error.code).toBe("csrf_failed");

    const port = new URL(t.apiUrl).port;
    const sameOrigin = await login("root", ADMIN_PASSWORD, { headers: { origin: `http://${HOST}:${port}` } });
    expect(sameOrigin.status).toBe(200);
    // A stale cookie does not keep anyone from logging in.
    expect((await login("root", ADMIN_PASSWORD, { cookie: "ebb_session=stale" })).status).toBe(200);
  });

  it("logout ends the session and clears the cookie", async () => {
    const { cookie, body } = await login("root", ADMIN_PASSWORD);
    const noCsrf = await call("POST", "/auth/logout", { cookie: cookie! });
    expect(noCsrf.body.error.code).toBe("csrf_failed");
    const out = await request("POST", "/auth/logout", { cookie: cookie!, csrf: body.csrfToken });
    expect(out.status).toBe(204);
    expect(out.headers.get("set-cookie")).toMatch(/^ebb_session=; .*Max-Age=0/);
    expect((await call("GET", "/auth/me", { cookie: cookie! })).status).toBe(401);
  });

  it("throttles logins: 5 failures for a username from one address, or from an address, within 15 min answer 429", async () => {
    const carol = await newUser("carol", "read");
    const dave = await newUser("dave", "read");
    const wrong = await login("carol", "not carol's password", { from: "127.0.60.21" });
    const unknown = await login("nobody-here", "not carol's password", { from: "127.0.60.29" });
    // The same answer for a wrong password and an unknown user.
    expect([wrong.status, unknown.status]).toEqual([401, 401]);
    const error = (r: { body: unknown }) => (r.body as { error: { code: string; message: string } }).error;
    expect([error(unknown).code, error(unknown).message]).toEqual([error(wrong).code, error(wrong).message]);
    for (let i = 0; i < 4; i++)
      expect((await login("carol", "wrong", { from: "127.0.60.21" })).status).toBe(401);

    const locked = await login("carol", carol.password, { from: "127.0.60.21" });
    expect(locked.status).toBe(429);
    const retryAfter = Number(locked.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(15 * 60);
    // Only that (username, address) pair is locked: whoever guessed cannot lock the owner out.
    expect((await login("carol", carol.password, { from: "127.0.60.22" })).status).toBe(200);
    expect((await login("dave", dave.password, { from: "127.0.60.22" })).status).toBe(200);

    // An address spraying usernames is locked for every username.
    for (let i = 0; i < 5; i++) {
      expect((await login(`spray-${i}`, "guess-password", { from: "127.0.60.23" })).status).toBe(401);
    }
    expect((await login("dave", dave.password, { from: "127.0.60.23" })).status).toBe(429);
    expect((await login("dave", dave.password, { from: "127.0.60.24" })).status).toBe(200);
  });

  it("an attacker guessing the owner's password locks out only themselves", async () => {
    const owner = await newUser("throttle-owner", "read");
    for (let i = 0; i < 8; i++) await login("throttle-owner", `guess-${i}`, { from: "127.0.60.25" });
    expect((await login("throttle-owner", owner.password, { from: "127.0.60.25" })).status).toBe(429);
    expect((await login("throttle-owner", owner.password, { from: "127.0.60.26" })).status).toBe(200);
  });

  it("counts concurrent guesses: a burst of 20 parallel tries gets 5 password checks, not 20", async () => {
    await newUser("throttle-burst", "read");
    const burst = await Promise.all(
      Array.from({ length: 20 }, (_, i) => login("throttle-burst", `burst-${i}`, { from: "127.0.60.27" })),
    );
    const statuses = burst.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 401)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(15);
  });
});

describe("API tokens", () => {
  it("revoking a token revokes the tokens it made, at any depth", async () => {
    const parent = await newToken("deploy");
    const child = await newToken("deploy", { token: parent.token });
    const grandchild = await newToken("read", { token: child.token });
    expect((await call("GET", "/auth/me", { token: grandchild.token })).status).toBe(200);
    expect((await call("DELETE", `/tokens/${parent.id}`, { token: ADMIN_TOKEN })).status).toBe(204);
    expect((await call("GET", "/auth/me", { token: child.token })).status).toBe(401);
    expect((await call("GET", "/auth/me", { token: grandchild.token })).status).toBe(401);
  });

  it("a token limited to one fleet may not act on another", async () => {
    const created = await call<CreateTokenResponse>("POST", "/tokens", {
      token: ADMIN_TOKEN,
      body: { name: "ci-web", scope: "deploy", fleets: ["web"] },
    });
    expect(created.status).toBe(201);
    expect(created.body.fleets).toEqual(["web"]);
    secrets.add(created.body.token);
    const other = await call("POST", "/rollouts/preview", {
      token: created.body.token,
      body: { fleet: "db", version: "2", runbook: "l4-drain" },
    });
    expect(other.status).toBe(403);
    expect(other.body.error.message).toMatch(/may not act on fleet db/);
    const own = await call("POST", "/rollouts/preview", {
      token: created.body.token,
      body: { fleet: "web", version: "2", runbook: "l4-drain" },
    });
    expect(own.status).not.toBe(403);
    // Nor mint a token for another fleet.
    const mint = await call("POST", "/tokens", {
      token: created.body.token,
      body: { name: "sneaky", scope: "deploy", fleets: ["db"] },
    });
    expect(mint.status).toBe(403);
  });

  it("are shown once at creation, listed by prefix, 30 days by default, at most 365", async () => {
    const before = Date.now();
    const created = await newToken("read");
    expect(created.token).toMatch(API_TOKEN_PATTERN);
    expect(created.prefix).toBe(created.token.slice(0, 12));
    const expires = Date.parse(created.expiresAt!);
    expect(expires).toBeGreaterThanOrEqual(before + 30 * 86_400_000);
    expect(expires).toBeLessThan(Date.now() + 30 * 86_400_000 + 1);

    const list = await call<TokenView[]>("GET", "/tokens", { token: ADMIN_TOKEN });
    const listed = list.body.find((x) => x.id === created.id);
    expect(listed).toEqual({ ...created, token: undefined, lastUsedAt: null });
    expect(JSON.stringify(list.body)).not.toContain(created.token);
    expect(JSON.stringify(list.body)).not.toMatch(/"hash"/);

    const tooLong = await call("POST", "/tokens", {
      token: ADMIN_TOKEN,
      body: { name: "x", scope: "read", expiresInDays: 366 },
    });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.error.message).toMatch(/expiresInDays/);
    const reserved = await call("POST", "/tokens", {
      token: ADMIN_TOKEN,
      body: { name: "EBB_ADMIN_TOKEN", scope: "read" },
    });
    expect(reserved.status).toBe(400);
  });

  it("a read token gets 403 on a mutating route and cannot mint a broader token", async () => {
    const read = await newToken("read");
    const rollout = randomUUID();
    expect((await call("GET", `/rollouts/${rollout}`, { token: read.token })).status).toBe(404);
    const create = await call("POST", "/rollouts", {
      token: read.token,
      body: { fleet: "lab", version: "2.0.0" },
    });
    expect(create.status).toBe(403);
    expect(create.body.error).toMatchObject({
      code: "forbidden",
      details: { needed: "deploy", held: "read" },
    });
    expect((await call("POST", `/rollouts/${rollout}/pause`, { token: read.token })).status).toBe(403);
    expect((await call("GET", "/users", { token: read.token })).status).toBe(403);

    const broader = await call("POST", "/tokens", {
      token: read.token,
      body: { name: "up", scope: "deploy" },
    });
    expect(broader.status).toBe(403);
    const same = await newToken("read", { token: read.token });
    // A token made by a token does not outlive its maker.
    expect(Date.parse(same.expiresAt!)).toBeLessThanOrEqual(Date.parse(read.expiresAt!));

    // The audit sees who was refused: the guard set the principal before answering 403.
    expect((await call("POST", "/auth-probe/deploy", { token: read.token })).status).toBe(403);
    expect(answered.at(-1)).toMatchObject({
      status: 403,
      principal: { kind: "token", id: read.id, scope: "read" },
    });
    expect((await call("POST", "/auth-probe/deploy", { token: ADMIN_TOKEN })).status).toBe(200);
    expect(answered.at(-1)).toMatchObject({ status: 200, principal: { kind: "token", scope: "admin" } });
    await call("POST", "/auth-probe/deploy");
    expect(answered.at(-1)).toMatchObject({ status: 401, principal: undefined });
  });

  it("revocation works on the next request; owners and admins may revoke, others see 404", async () => {
    const user = await newUser("erin", "deploy");
    const other = await newUser("frank", "deploy");
    const erin = await login("erin", user.password);
    const frank = await login("frank", other.password);
    const mine = await newToken("deploy", { cookie: erin.cookie!, csrf: erin.body.csrfToken });
    expect(mine.createdBy).toBe(user.id);
    expect((await call<MeResponse>("GET", "/auth/me", { token: mine.token })).body.principal.scope).toBe(
      "deploy",
    );

    const erinsList = await call<TokenView[]>("GET", "/tokens", { cookie: erin.cookie! });
    expect(erinsList.body.map((x) => x.id)).toEqual([mine.id]);
    expect((await call<TokenView[]>("GET", "/tokens", { cookie: frank.cookie! })).body).toEqual([]);
    const notFrank = await call("DELETE", `/tokens/${mine.id}`, {
      cookie: frank.cookie!,
      csrf: frank.body.csrfToken,
    });
    expect(notFrank.status).toBe(404);
    expect((await call("GET", "/auth/me", { token: mine.token })).status).toBe(200);

    const revoked = await request("DELETE", `/tokens/${mine.id}`, {
      cookie: erin.cookie!,
      csrf: erin.body.csrfToken,
    });
    expect(revoked.status).toBe(204);
    const after = await call("GET", "/auth/me", { token: mine.token });
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe("unauthenticated");
    const listed = await call<TokenView[]>("GET", "/tokens", { token: ADMIN_TOKEN });
    expect(listed.body.find((x) => x.id === mine.id)?.revokedAt).toEqual(expect.any(String));

    const byAdmin = await newToken("read");
    expect((await request("DELETE", `/tokens/${byAdmin.id}`, { token: ADMIN_TOKEN })).status).toBe(204);
    expect((await call("GET", "/auth/me", { token: byAdmin.token })).status).toBe(401);
  });
});

describe("users", () => {
  it("admins create, list, change and delete users; passwords never come back", async () => {
    const weak = await call("POST", "/users", {
      token: ADMIN_TOKEN,
      body: { username: "gina", password: "short-pw", role: "read" },
    });
    expect(weak.status).toBe(400);
    expect(weak.body.error.message).toMatch(/password/);
    expect(JSON.stringify(weak.body)).not.toContain("short-pw");
    const badName = await call("POST", "/users", {
      token: ADMIN_TOKEN,
      body: { username: "Gina", password: "long enough pw", role: "read" },
    });
    expect(badName.status).toBe(400);

    const gina = await newUser("gina", "deploy");
    const dup = await call("POST", "/users", {
      token: ADMIN_TOKEN,
      body: { username: "gina", password: "another long pw", role: "read" },
    });
    expect(dup.status).toBe(409);
    const list = await call<UserView[]>("GET", "/users", { token: ADMIN_TOKEN });
    expect(list.body.find((u) => u.username === "gina")).toEqual({
      id: gina.id,
      username: "gina",
      role: "deploy",
      createdAt: expect.any(String),
      disabledAt: null,
    });
    expect(JSON.stringify(list.body)).not.toMatch(/scrypt|password/i);

    // A deploy user is not an admin.
    const session = await login("gina", gina.password);
    expect((await call("GET", "/users", { cookie: session.cookie! })).status).toBe(403);
    const token = await newToken("deploy", { cookie: session.cookie!, csrf: session.body.csrfToken });

    // Demoted: the session and the tokens of the user drop to read at once.
    const demoted = await call<UserView>("PATCH", `/users/${gina.id}`, {
      token: ADMIN_TOKEN,
      body: { role: "read" },
    });
    expect(demoted.body.role).toBe("read");
    expect((await call<MeResponse>("GET", "/auth/me", { token: token.token })).body.principal.scope).toBe(
      "read",
    );
    expect((await call("POST", "/rollouts", { token: token.token, body: {} })).status).toBe(403);

    // A new password ends the sessions; disabling ends logins and tokens.
    const newPassword = "gina's new password";
    secrets.add(newPassword);
    await call("PATCH", `/users/${gina.id}`, { token: ADMIN_TOKEN, body: { password: newPassword } });
    expect((await call("GET", "/auth/me", { cookie: session.cookie! })).status).toBe(401);
    expect((await login("gina", gina.password)).status).toBe(401);
    expect((await login("gina", newPassword)).status).toBe(200);
    await call("PATCH", `/users/${gina.id}`, { token: ADMIN_TOKEN, body: { disabled: true } });
    expect((await login("gina", newPassword)).status).toBe(401);
    expect((await call("GET", "/auth/me", { token: token.token })).status).toBe(401);

    expect((await request("DELETE", `/users/${gina.id}`, { token: ADMIN_TOKEN })).status).toBe(204);
    expect((await call("GET", "/users", { token: ADMIN_TOKEN })).body).not.toContainEqual(
      expect.objectContaining({ username: "gina" }),
    );
    expect((await request("DELETE", `/users/${gina.id}`, { token: ADMIN_TOKEN })).status).toBe(404);
  });

  it("keeps the last enabled admin: it can be neither demoted, disabled nor deleted", async () => {
    const users = await call<UserView[]>("GET", "/users", { token: ADMIN_TOKEN });
    const root = users.body.find((u) => u.username === "root")!;
    expect(
      (await call("PATCH", `/users/${root.id}`, { token: ADMIN_TOKEN, body: { role: "deploy" } })).status,
    ).toBe(409);
    expect(
      (await call("PATCH", `/users/${root.id}`, { token: ADMIN_TOKEN, body: { disabled: true } })).status,
    ).toBe(409);
    expect((await call("DELETE", `/users/${root.id}`, { token: ADMIN_TOKEN })).status).toBe(409);
    const second = await newUser("second-admin", "admin");
    expect(
      (await call("PATCH", `/users/${root.id}`, { token: ADMIN_TOKEN, body: { role: "deploy" } })).status,
    ).toBe(200);
    expect(
      (await call("PATCH", `/users/${root.id}`, { token: ADMIN_TOKEN, body: { role: "admin" } })).status,
    ).toBe(200);
    expect((await request("DELETE", `/users/${second.id}`, { token: ADMIN_TOKEN })).status).toBe(204);
  });
});

describe("event streams", () => {
  async function open(o: CallOptions) {
    const res = await request("GET", "/auth-probe/stream", {
      ...o,
      headers: { accept: "text/event-stream" },
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let first = "";
    while (!first.includes("data: ")) {
      const chunk = await reader.read();
      if (chunk.done) throw new Error(`the stream ended before its first event: ${first}`);
      first += new TextDecoder().decode(chunk.value);
    }
    let ended = false;
    void (async () => {
      while (!(await reader.read()).done);
      ended = true;
    })().catch(() => {
      ended = true;
    });
    const cancel = () => reader.cancel().catch(() => undefined);
    streams.push(cancel);
    return { isEnded: () => ended, cancel };
  }

  it("a stream without credentials gets 401", async () => {
    const res = await call("GET", "/auth-probe/stream");
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe("unauthenticated");
  });

  it("a revoked token's stream closes at once; a logged-out session's too", async () => {
    const watch = t.app.get(CredentialWatch);
    const token = await newToken("read");
    const stream = await open({ token: token.token });
    const bystander = await open({ token: ADMIN_TOKEN });
    expect(watch.size).toBe(2);
    expect(stream.isEnded()).toBe(false);
    await request("DELETE", `/tokens/${token.id}`, { token: ADMIN_TOKEN });
    await waitFor(() => stream.isEnded(), { timeoutMs: 3000, what: "the revoked token's stream to close" });

    const session = await login("root", ADMIN_PASSWORD);
    const sessionStream = await open({ cookie: session.cookie! });
    await request("POST", "/auth/logout", { cookie: session.cookie!, csrf: session.body.csrfToken });
    await waitFor(() => sessionStream.isEnded(), {
      timeoutMs: 3000,
      what: "the logged-out session's stream to close",
    });

    // Disabling a user closes the streams of their sessions and of their tokens.
    const user = await newUser("hal", "read");
    const hal = await login("hal", user.password);
    const halToken = await newToken("read", { cookie: hal.cookie!, csrf: hal.body.csrfToken });
    const halSession = await open({ cookie: hal.cookie! });
    const halTokenStream = await open({ token: halToken.token });
    await call("PATCH", `/users/${user.id}`, { token: ADMIN_TOKEN, body: { disabled: true } });
    await waitFor(() => halSession.isEnded() && halTokenStream.isEnded(), {
      timeoutMs: 3000,
      what: "the disabled user's streams to close",
    });

    expect(bystander.isEnded()).toBe(false);
    await bystander.cancel();
    await waitFor(() => watch.size === 0, { timeoutMs: 3000, what: "the cancelled stream to unwatch" });
  });

  it("a revocation by another API process (only in the database) closes the stream at the next re-check", async () => {
    const watch = t.app.get(CredentialWatch);
    const token = await newToken("read");
    const stream = await open({ token: token.token });
    await t.database.prisma.apiToken.update({ where: { id: token.id }, data: { revokedAt: new Date() } });
    watch.recheckIntervalMs = 200;
    try {
      await waitFor(() => stream.isEnded(), { timeoutMs: 5000, what: "the re-check to close the stream" });
    } finally {
      watch.recheckIntervalMs = 600_000;
    }
  });
});

describe("deny by default", () => {
  it("a route without @Access answers 403 to everyone and logs an error naming it", async () => {
    const res = await call("GET", "/auth-probe/undeclared", { token: ADMIN_TOKEN });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe("forbidden");
    expect((await call("GET", "/auth-probe/undeclared")).status).toBe(403);
    expect(t.logger.lines.join("\n")).toMatch(
      /error .*GET \/api\/v1\/auth-probe\/undeclared \(ProbeController\.undeclared\) has no @Access/,
    );
  });
});

describe("secrets", () => {
  it("never appear in a response, a log line, a database row in clear, or Redis", async () => {
    expect(secrets.size).toBeGreaterThan(10);
    const responses = seen.join("\n");
    const logs = t.logger.lines.join("\n");
    expect(logs).toContain("EBB_ADMIN_TOKEN");
    const prisma = t.database.prisma;
    const rows = JSON.stringify([
      await prisma.user.findMany(),
      await prisma.session.findMany(),
      await prisma.apiToken.findMany(),
    ]);
    const redis = t.app.get<RedisConnections>(REDIS_CONNECTION).queueConnection();
    const keys = await redis.keys("*");
    const values = await Promise.all(
      keys.map(async (k) => ((await redis.type(k)) === "string" ? redis.get(k) : "")),
    );
    const inRedis = [...keys, ...values].join("\n");
    expect(keys.some((k) => k.startsWith("ebb:login-attempts:"))).toBe(true);
    for (const secret of secrets) {
      expect(responses.includes(secret) ? `response contains ${secret.slice(0, 6)}…` : "ok").toBe("ok");
      expect(logs.includes(secret) ? `log contains ${secret.slice(0, 6)}…` : "ok").toBe("ok");
      expect(rows.includes(secret) ? `a row contains ${secret.slice(0, 6)}…` : "ok").toBe("ok");
      expect(inRedis.includes(secret) ? `Redis contains ${secret.slice(0, 6)}…` : "ok").toBe("ok");
    }
  });
});
