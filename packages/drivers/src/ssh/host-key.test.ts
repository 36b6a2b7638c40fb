import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isEbbError } from "@ebb/core";
import { afterAll, describe, expect, it } from "vitest";
import { fingerprint, parseHostKey } from "./host-key.js";

const dir = mkdtempSync(join(tmpdir(), "ebb-hostkey-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function newKey(type: string): string {
  const path = join(dir, `${type}-${Math.random().toString(36).slice(2)}`);
  execFileSync("ssh-keygen", ["-q", "-t", type, "-N", "", "-f", path]);
  return readFileSync(`${path}.pub`, "utf8").trim();
}

describe("parseHostKey", () => {
  it("reads a public key line and a known_hosts line to the same blob, with OpenSSH's fingerprint", () => {
    const pub = newKey("ed25519");
    const fromPub = parseHostKey(pub);
    const fromKnownHosts = parseHostKey(`[vm1.example]:2222,10.0.0.1 ${pub}`);
    expect(fromPub.type).toBe("ssh-ed25519");
    expect(fromKnownHosts.blob.equals(fromPub.blob)).toBe(true);
    expect(fromPub.algorithms).toEqual(["ssh-ed25519"]);
    const expected = execFileSync("ssh-keygen", ["-l", "-f", "-"], { input: pub, encoding: "utf8" }).split(
      " ",
    )[1];
    expect(fingerprint(fromPub.blob)).toBe(expected);
  });

  it("offers the RSA signature algorithms for an ssh-rsa key", () => {
    expect(parseHostKey(newKey("rsa")).algorithms).toEqual(["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]);
  });

  it("refuses what is not a key, naming the field", () => {
    for (const bad of [
      "",
      "hello",
      "ssh-ed25519",
      "ssh-ed25519 not-base64!",
      "@cert-authority *.lab ssh-ed25519 AAAA",
    ]) {
      let err: unknown;
      try {
        parseHostKey(bad);
      } catch (e) {
        err = e;
      }
      expect(isEbbError(err, "param_invalid")).toBe(true);
      expect((err as Error).message).toMatch(/^hostKey: /);
    }
  });
});
