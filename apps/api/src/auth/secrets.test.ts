import type { IncomingMessage } from "node:http";
import { describe, expect, it } from "vitest";
import { clearedSessionCookie, readCookie, SESSION_COOKIE, sessionCookie } from "./cookies.js";
import {
  API_TOKEN_PATTERN,
  generateApiToken,
  randomBase62,
  safeEqual,
  sha256Hex,
  tokenPrefix,
} from "./secrets.js";

describe("API token values", () => {
  it("are ebb_<8 base62>_<32 base62>, all different, with ebb_<8> as their visible prefix", () => {
    const values = Array.from({ length: 200 }, generateApiToken);
    for (const v of values) expect(v).toMatch(API_TOKEN_PATTERN);
    expect(new Set(values).size).toBe(200);
    const v = values[0]!;
    expect(tokenPrefix(v)).toBe(v.slice(0, 12));
    expect(tokenPrefix(v)).toMatch(/^ebb_[0-9A-Za-z]{8}$/);
  });

  it("shows only 4 characters of a value of another format (an operator's EBB_ADMIN_TOKEN)", () => {
    expect(tokenPrefix("my-own-admin-token-value")).toBe("my-o…");
  });

  it("draws every base62 character", () => {
    expect(new Set(randomBase62(5000)).size).toBe(62);
  });

  it("hashes with sha256 hex, and compares in constant time", () => {
    expect(sha256Hex("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect(safeEqual("abc", "abc")).toBe(true);
    expect(safeEqual("abc", "abd")).toBe(false);
    expect(safeEqual("abc", "abcd")).toBe(false);
  });
});

describe("the session cookie", () => {
  it("is HttpOnly, SameSite=Strict, Path=/, Secure only when asked", () => {
    expect(sessionCookie("v", 43_200, { secure: false })).toBe(
      `${SESSION_COOKIE}=v; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200`,
    );
    expect(sessionCookie("v", 10.7, { secure: true })).toMatch(/; Max-Age=10; Secure$/);
    expect(clearedSessionCookie({ secure: false })).toMatch(/^ebb_session=; .*Max-Age=0/);
  });

  it("is read from a Cookie header among others", () => {
    const req = (cookie?: string) => ({ headers: cookie === undefined ? {} : { cookie } }) as IncomingMessage;
    expect(readCookie(req("a=1; ebb_session=abc-_; b=2"), SESSION_COOKIE)).toBe("abc-_");
    expect(readCookie(req('ebb_session="q"'), SESSION_COOKIE)).toBe("q");
    expect(readCookie(req("xebb_session=1"), SESSION_COOKIE)).toBeUndefined();
    expect(readCookie(req(), SESSION_COOKIE)).toBeUndefined();
  });
});
