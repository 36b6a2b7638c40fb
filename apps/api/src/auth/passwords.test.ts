import { describe, expect, it } from "vitest";
import { hashPassword, SCRYPT_PARAMS, verifyPassword } from "./passwords.js";

describe("password hashing (scrypt)", () => {
  it("encodes scrypt$N$r$p$salt$hash with a fresh 16-byte salt, and verifies only the right password", async () => {
    const a = await hashPassword("correct horse battery");
    const b = await hashPassword("correct horse battery");
    const [scheme, n, r, p, salt, hash] = a.split("$");
    expect([scheme, Number(n), Number(r), Number(p)]).toEqual(["scrypt", 2 ** 15, 8, 1]);
    expect(SCRYPT_PARAMS).toEqual({ N: 2 ** 15, r: 8, p: 1 });
    expect(Buffer.from(salt!, "base64")).toHaveLength(16);
    expect(Buffer.from(hash!, "base64")).toHaveLength(32);
    expect(a).not.toBe(b);
    expect(a).not.toContain("correct horse");

    expect(await verifyPassword("correct horse battery", a)).toBe(true);
    expect(await verifyPassword("correct horse battery", b)).toBe(true);
    expect(await verifyPassword("correct horse batterY", a)).toBe(false);
    expect(await verifyPassword("", a)).toBe(false);
  });

  it("treats Unicode forms alike and refuses hashes it cannot read without throwing", async () => {
    const hash = await hashPassword("pässwörd-ñandú");
    expect(await verifyPassword("pa\u0308sswo\u0308rd-n\u0303andu\u0301", hash)).toBe(true);
    for (const bad of [
      "",
      "plain",
      "bcrypt$2$x$y$z$w",
      "scrypt$1048577$8$1$AAAA$AAAA",
      "scrypt$32768$8$1$$",
      hash.slice(0, -4),
    ]) {
      expect(await verifyPassword("pässwörd-ñandú", bad), bad).toBe(false);
    }
  });

  it("verifies hashes made with other parameters (they travel with the hash)", async () => {
    const hash = await hashPassword("rotate me please");
    const [, , , , salt] = hash.split("$");
    const { scryptSync } = await import("node:crypto");
    const key = scryptSync("rotate me please", Buffer.from(salt!, "base64"), 32, { N: 2 ** 14, r: 8, p: 1 });
    const older = `scrypt$16384$8$1$${salt}$${key.toString("base64")}`;
    expect(await verifyPassword("rotate me please", older)).toBe(true);
    expect(await verifyPassword("rotate me pleasE", older)).toBe(false);
  });
});
