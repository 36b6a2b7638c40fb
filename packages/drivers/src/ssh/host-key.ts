import { createHash } from "node:crypto";
import { EbbError } from "@ebb/core";
import { utils } from "./ssh2.js";

export interface PinnedHostKey {
  /** The key's algorithm as written (`ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`). */
  type: string;
  /** The raw public key blob, as the server sends it during key exchange. */
  blob: Buffer;
  /** Host key algorithms to offer, so the server presents this key rather than another one it has. */
  algorithms: string[];
}

const KEY_TYPE = /^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-[a-z0-9-]+@openssh\.com)$/;

/**
 * Parses the pinned host key: a bare public key (`ssh-ed25519 AAAA... [comment]`) or a known_hosts line
 * (`host[,host] ssh-ed25519 AAAA...`). The host names of a known_hosts line are not checked: the key is
 * pinned for this executor's target, whatever name it was recorded under.
 */
export function parseHostKey(text: string): PinnedHostKey {
  const line = text.trim();
  if (line.startsWith("@")) {
    throw invalidHostKey(`markers such as ${line.split(/\s+/)[0]} are not supported; give the key itself`);
  }
  const tokens = line.split(/\s+/);
  const at = tokens.findIndex((t) => KEY_TYPE.test(t));
  const type = at >= 0 ? tokens[at] : undefined;
  const base64 = at >= 0 ? tokens[at + 1] : undefined;
  if (type === undefined || base64 === undefined) {
    throw invalidHostKey('expected "ssh-ed25519 AAAA..." or a known_hosts line');
  }
  const parsed = utils.parseKey(`${type} ${base64}`);
  if (parsed instanceof Error) throw invalidHostKey(`the ${type} key does not parse (${parsed.message})`);
  const blob = parsed.getPublicSSH();
  const algorithms = type === "ssh-rsa" ? ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] : [type];
  return { type, blob, algorithms };
}

/** OpenSSH's fingerprint format, for messages: public information, safe to log. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

function invalidHostKey(reason: string): EbbError {
  return new EbbError("param_invalid", `hostKey: ${reason}`, {
    details: [{ field: "hostKey", message: reason }],
  });
}
