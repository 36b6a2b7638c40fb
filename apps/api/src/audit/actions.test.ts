import { describe, expect, it } from "vitest";
import { describeRoute, isSimplePattern, matchRoute } from "./actions.js";

const ID = "0b8a4c1e-6f0e-4a57-9a39-0d1f4f1c2b3a";

describe("describeRoute", () => {
  it.each([
    ["POST", "/rollouts", "/rollouts", "rollout.create", "rollout", null],
    ["POST", "/rollouts/:id/pause", `/rollouts/${ID}/pause`, "rollout.pause", "rollout", ID],
    ["POST", "/rollouts/:id/approve", `/rollouts/${ID}/approve`, "rollout.approve", "rollout", ID],
    ["DELETE", "/tokens/:id", `/tokens/${ID}`, "token.revoke", "token", ID],
    ["POST", "/tokens", "/tokens", "token.create", "token", null],
    ["POST", "/auth/login", "/auth/login", "auth.login", "session", null],
    ["POST", "/auth/logout", "/auth/logout", "auth.logout", "session", null],
    ["PATCH", "/users/:id", `/users/${ID}`, "user.update", "user", ID],
    ["PUT", "/policies/:id", "/policies/p1", "policy.update", "policy", "p1"],
    ["DELETE", "/users/:id", `/users/${ID}`, "user.delete", "user", ID],
    [
      "POST",
      "/fleets/:name/targets/:target/drain",
      "/fleets/lab/targets/vm1/drain",
      "fleet.targets.drain",
      "fleet",
      "lab",
    ],
  ])("%s %s -> %s", (method, pattern, path, action, resourceType, resourceId) => {
    expect(describeRoute(method, pattern, path)).toEqual({
      route: `${method} ${pattern}`,
      action,
      resourceType,
      resourceId,
    });
  });

  it("a request no route matched is http.request, with the path as sent", () => {
    expect(describeRoute("POST", undefined, "/nowhere/at/all")).toEqual({
      route: "POST /nowhere/at/all",
      action: "http.request",
      resourceType: null,
      resourceId: null,
    });
  });

  it("never copies a secret from the path into the event", () => {
    const token = "ebb_AbCd1234_0123456789abcdefghijABCDEFGHIJ01";
    expect(describeRoute("DELETE", "/tokens/:id", `/tokens/${token}`).resourceId).toBe("[redacted]");
    expect(describeRoute("POST", undefined, `/tokens/${token}/x`).route).toBe("POST /tokens/[redacted]/x");
  });
});

describe("matchRoute", () => {
  const routes = [
    { pattern: "/rollouts", methods: new Set(["POST"]) },
    { pattern: "/rollouts/:id", methods: new Set(["GET", "HEAD"]) },
    { pattern: "/rollouts/:id/pause", methods: new Set(["POST"]) },
  ];

  it("finds the pattern a path would have hit, by method", () => {
    expect(matchRoute(routes, "POST", `/rollouts/${ID}/pause`)).toBe("/rollouts/:id/pause");
    expect(matchRoute(routes, "POST", "/rollouts")).toBe("/rollouts");
    expect(matchRoute(routes, "DELETE", `/rollouts/${ID}`)).toBeUndefined();
    expect(matchRoute(routes, "POST", `/rollouts/${ID}/resume`)).toBeUndefined();
  });

  it("only plain :param patterns are matched by hand", () => {
    expect(isSimplePattern("/rollouts/:id/pause")).toBe(true);
    expect(isSimplePattern("/files/*path")).toBe(false);
    expect(isSimplePattern("/things{/:id}")).toBe(false);
  });
});
