import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../config/config.js";
import { describeConfig } from "../config/describe.js";

const cwd = "/srv/ebb";

function issues(env: Record<string, string>): string {
  try {
    parseConfig(env, { cwd });
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

describe("auth configuration", () => {
  it("has no first admin, a non-Secure cookie and no admin token by default", () => {
    const config = parseConfig({}, { cwd });
    expect(config.firstAdmin).toBeUndefined();
    expect(config.adminToken).toBeUndefined();
    expect(config.cookieSecure).toBe(false);
  });

  it("reads EBB_ADMIN_USER (default admin), EBB_ADMIN_PASSWORD, EBB_COOKIE_SECURE", () => {
    expect(parseConfig({ EBB_ADMIN_PASSWORD: "a long password" }, { cwd }).firstAdmin).toEqual({
      username: "admin",
      password: "a long password",
    });
    const config = parseConfig(
      { EBB_ADMIN_USER: "ops", EBB_ADMIN_PASSWORD: "a long password", EBB_COOKIE_SECURE: "true" },
      { cwd },
    );
    expect(config.firstAdmin).toEqual({ username: "ops", password: "a long password" });
    expect(config.cookieSecure).toBe(true);
    expect(describeConfig(config)).not.toContain("a long password");
  });

  it("refuses a short EBB_ADMIN_TOKEN or EBB_ADMIN_PASSWORD without echoing them", () => {
    const token = issues({ EBB_ADMIN_TOKEN: "short-secret" });
    expect(token).toMatch(/EBB_ADMIN_TOKEN: must be at least 16 characters/);
    expect(token).not.toContain("short-secret");
    expect(parseConfig({ EBB_ADMIN_TOKEN: "sixteen-chars-ok" }, { cwd }).adminToken).toBe("sixteen-chars-ok");

    const password = issues({ EBB_ADMIN_PASSWORD: "hunter2" });
    expect(password).toMatch(/EBB_ADMIN_PASSWORD: must be at least 12 characters/);
    expect(password).not.toContain("hunter2");
    expect(issues({ EBB_ADMIN_USER: "Admin" })).toMatch(/EBB_ADMIN_USER: must be 1-64 of a-z/);
    expect(issues({ EBB_COOKIE_SECURE: "yes" })).toMatch(/EBB_COOKIE_SECURE: must be true or false/);
  });
});
