// issue #4 §2: every route of the app has an explicit authorization decision, and the decision holds for
// every kind of caller. Walks the routes of the app as `main.js` builds it (featureModules), so routes
// other modules add later are checked without editing this file.
import { randomUUID } from "node:crypto";
import type { CreateTokenResponse } from "@ebb/contracts";
import { DiscoveryModule } from "@nestjs/core";
import { fetch } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AccessLevel } from "../../apps/api/src/auth/access.js";
import {
  type AuthTestApp,
  createProbeModule,
  startAuthTestApp,
  type WalkedRoute,
  walkRoutes,
} from "../../apps/api/test-support/auth.js";

const ADMIN_TOKEN = "route-matrix-admin-token-0123456789";

type Caller = "anonymous" | "revoked" | "read" | "deploy" | "admin";
const CALLERS: Caller[] = ["anonymous", "revoked", "read", "deploy", "admin"];

/** What the guard must answer a caller on a route of a level: 401, 403, or anything else ("pass"). */
function expected(level: AccessLevel, caller: Caller): 401 | 403 | "pass" {
  if (level === "public") return "pass";
  if (caller === "anonymous" || caller === "revoked") return 401;
  const rank = { read: 0, deploy: 1, admin: 2 } as const;
  return rank[caller] >= rank[level] ? "pass" : 403;
}

/** A concrete URL for a route: every parameter a fresh uuid (no such resource: only the auth decision matters). */
function concrete(path: string): string {
  return path.replace(/:[A-Za-z0-9_]+/g, () => randomUUID()).replace(/\{?\*[A-Za-z0-9_]+\}?/g, "x");
}

describe("the route walk", () => {
  let t: AuthTestApp;
  let walk: ReturnType<typeof walkRoutes>;
  const tokens = new Map<Caller, string>();

  beforeAll(async () => {
    t = await startAuthTestApp({
      host: "127.0.61.1",
      env: { EBB_ADMIN_TOKEN: ADMIN_TOKEN },
      modules: [DiscoveryModule],
    });
    walk = walkRoutes(t.app);
    for (const scope of ["read", "deploy", "admin", "revoked"] as const) {
      const res = await fetch(`${t.apiUrl}/tokens`, {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({ name: `matrix-${scope}`, scope: scope === "revoked" ? "admin" : scope }),
      });
      expect(res.status).toBe(201);
      const created = (await res.json()) as CreateTokenResponse;
      tokens.set(scope, created.token);
      if (scope === "revoked") {
        const revoked = await fetch(`${t.apiUrl}/tokens/${created.id}`, {
          method: "DELETE",
          headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        });
        expect(revoked.status).toBe(204);
      }
    }
  });
  afterAll(async () => {
    await t?.close();
  });

  it("finds every route Express serves among the controllers' routes, each with an @Access decision", () => {
    const names = walk.routes.map((r) => `${r.method} ${r.path}`);
    // The walk sees the routes we know exist (a walk that finds nothing would pass everything).
    expect(names).toEqual(
      expect.arrayContaining([
        "GET /api/v1/health/live",
        "POST /api/v1/auth/login",
        "POST /api/v1/rollouts",
        "GET /api/v1/rollouts/:id",
        "DELETE /api/v1/tokens/:id",
        "PATCH /api/v1/users/:id",
      ]),
    );
    expect(walk.unaccounted, "routes served outside Nest's controllers: no guard runs for them").toEqual([]);
    const undecided = walk.routes.filter((r) => r.access === undefined).map(describeRoute);
    expect(undecided, "routes without @Access(...): add one (public, read, deploy or admin)").toEqual([]);
  });

  it("answers 401 / 403 / neither for every route x {anonymous, revoked, read, deploy, admin token}", async () => {
    const failures: string[] = [];
    let calls = 0;
    for (const route of walk.routes) {
      if (route.access === undefined) continue;
      const url = `${t.apiUrl.replace(/\/api\/v1$/, "")}${concrete(route.path)}`;
      const method = route.method === "ALL" ? "GET" : route.method;
      for (const caller of CALLERS) {
        const status = await statusOf(method, url, caller === "anonymous" ? undefined : tokens.get(caller));
        calls++;
        const want = expected(route.access, caller);
        const ok = want === "pass" ? status !== 401 && status !== 403 : status === want;
        if (!ok)
          failures.push(
            `${describeRoute(route)} as ${caller}: got ${status}, expected ${want === "pass" ? "neither 401 nor 403" : want}`,
          );
      }
    }
    // Routes served around Nest on purpose (the OpenAPI UI) are open to everyone, as declared.
    for (const served of walk.declaredPublic) {
      const [method = "GET", path = ""] = served.split(" ");
      if (/[:*]/.test(path)) continue;
      const status = await statusOf(method, `${t.apiUrl.replace(/\/api\/v1$/, "")}${path}`, undefined);
      if (status === 401 || status === 403)
        failures.push(`${served} (declared public, served around Nest): got ${status}`);
    }
    expect(calls).toBeGreaterThanOrEqual(walk.routes.length * CALLERS.length - CALLERS.length);
    expect(failures).toEqual([]);
  });
});

describe("the route walk itself", () => {
  it("names a route without @Access, and the guard closes it", async () => {
    const t = await startAuthTestApp({
      host: "127.0.61.2",
      env: { EBB_ADMIN_TOKEN: ADMIN_TOKEN },
      modules: [DiscoveryModule, createProbeModule([])],
      features: false,
    });
    try {
      const walk = walkRoutes(t.app);
      const undecided = walk.routes.filter((r) => r.access === undefined).map(describeRoute);
      expect(undecided).toEqual(["GET /api/v1/auth-probe/undeclared (ProbeController.undeclared)"]);
      expect(await statusOf("GET", `${t.apiUrl}/auth-probe/undeclared`, ADMIN_TOKEN)).toBe(403);

      // A route added around Nest (straight on Express) has no guard: the walk reports it.
      const express = t.app.getHttpAdapter().getInstance() as {
        get(path: string, h: (...a: unknown[]) => void): void;
      };
      express.get("/api/v1/raw", () => undefined);
      expect(walkRoutes(t.app).unaccounted).toEqual(["GET /api/v1/raw"]);
      expect(walkRoutes(t.app).declaredPublic).toContain("GET /api/docs-json");

      // Shutting down ends the event streams still open (the HTTP drain would wait for them for ever).
      const stream = await fetch(`${t.apiUrl}/auth-probe/stream`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      expect(stream.status).toBe(200);
      const body = stream.body!.getReader();
      await body.read();
      let ended = false;
      const reading = (async () => {
        while (!(await body.read()).done);
        ended = true;
      })();
      await t.close();
      await reading;
      expect(ended).toBe(true);
    } finally {
      await t.close();
    }
  });
});

function describeRoute(r: WalkedRoute): string {
  return `${r.method} ${r.path} (${r.handler})`;
}

/** The status only: an event stream is abandoned as soon as its headers arrive. */
async function statusOf(method: string, url: string, token: string | undefined): Promise<number> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 15_000);
  try {
    const hasBody = !["GET", "HEAD", "OPTIONS"].includes(method);
    const res = await fetch(url, {
      method,
      signal: controller.signal,
      headers: {
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
        ...(hasBody ? { "content-type": "application/json" } : {}),
      },
      ...(hasBody ? { body: "{}" } : {}),
    });
    if (res.headers.get("content-type")?.startsWith("text/event-stream")) await res.body?.cancel();
    else await res.arrayBuffer();
    return res.status;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}
