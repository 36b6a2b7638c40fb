import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** `length` characters of [0-9A-Za-z], uniformly: bytes >= 248 are dropped, so no character is favoured. */
export function randomBase62(length: number): string {
  let out = "";
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248 && out.length < length) out += BASE62[byte % 62];
    }
  }
  return out;
}

/** `ebb_<8>_<32>`: the first part is the visible prefix, the whole value the secret (~190 random bits). */
export const API_TOKEN_PATTERN = /^ebb_[0-9A-Za-z]{8}_[0-9A-Za-z]{32}$/;

export function generateApiToken(): string {
  return `ebb_${randomBase62(8)}_${randomBase62(32)}`;
}

/**
 * What lists show of a token. A value of our format shows `ebb_xxxxxxxx`; any other (an EBB_ADMIN_TOKEN the
 * operator chose) shows only its first 4 characters, as it has no part that was meant to be public.
 */
export function tokenPrefix(value: string): string {
  return API_TOKEN_PATTERN.test(value) ? value.slice(0, 12) : `${value.slice(0, 4)}…`;
}

/**
 * Tokens and session cookies are high-entropy, so a fast hash is enough to make a stolen table useless
 * (nobody can brute-force 190 bits); passwords get scrypt instead.
 */
export function sha256Hex(value: string): string {
  return createHash("sha256").update(value, "utf8").digest("hex");
}

/** A session cookie value: 32 random bytes. */
export function randomSecret(): string {
  return randomBytes(32).toString("base64url");
}

/** Compares without leaking where the first difference is (length differences do show, which is fine). */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, "utf8");
  const y = Buffer.from(b, "utf8");
  return x.length === y.length && timingSafeEqual(x, y);
}
