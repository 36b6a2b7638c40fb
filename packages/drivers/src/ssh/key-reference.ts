import { readFile } from "node:fs/promises";
import { isAbsolute } from "node:path";
import { EbbError } from "@ebb/core";
import { utils } from "./ssh2.js";

/** Where key references may point. Nothing else is consulted: no agent, no default ~/.ssh keys. */
export interface KeySources {
  /** For `env:NAME`: the environment to read from (the caller passes it; drivers never read process.env). */
  env?: Readonly<Record<string, string | undefined>>;
  /** For `file:/path`: how to read a file. Default: the file system. */
  files?: (path: string) => Promise<Buffer>;
}

/**
 * Resolves a key reference from a target's config to the private key itself: `file:/absolute/path` or
 * `env:NAME`. Config holds only the reference; the key lives in a file or the worker's environment. Errors
 * name the reference and never include the key. The key must be an unencrypted private key ssh2 can use.
 */
export async function resolveKeyReference(ref: string, sources: KeySources = {}): Promise<Buffer> {
  const colon = ref.indexOf(":");
  const scheme = colon > 0 ? ref.slice(0, colon) : "";
  const rest = colon > 0 ? ref.slice(colon + 1) : "";
  let key: Buffer;
  if (scheme === "file") {
    if (!isAbsolute(rest))
      throw badReference(ref, "a file reference needs an absolute path (file:/path/to/key)");
    try {
      key = await (sources.files ?? readFile)(rest);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw badReference(ref, `cannot read ${rest}${code ? ` (${code})` : ""}`, err);
    }
  } else if (scheme === "env") {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(rest))
      throw badReference(ref, `${JSON.stringify(rest)} is not a variable name`);
    if (sources.env === undefined) throw badReference(ref, "no environment was given to read it from");
    const value = sources.env[rest];
    if (value === undefined || value === "") throw badReference(ref, `${rest} is not set`);
    key = Buffer.from(value, "utf8");
  } else {
    throw badReference(ref, "unsupported source; use file:/absolute/path or env:NAME");
  }
  const parsed = utils.parseKey(key);
  // parseKey's message for a bad key can quote parts of it: keep it out of the error and its cause.
  if (parsed instanceof Error || !parsed.isPrivateKey()) {
    throw badReference(ref, "does not hold an unencrypted private key ssh2 can use");
  }
  return key;
}

function badReference(ref: string, reason: string, cause?: unknown): EbbError {
  return new EbbError("param_invalid", `key reference ${JSON.stringify(ref)}: ${reason}`, {
    details: [{ field: "keyRef", message: reason }],
    ...(cause === undefined ? {} : { cause }),
  });
}
