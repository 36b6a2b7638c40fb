import { readFileSync } from "node:fs";
import type { SecretResolver } from "@ebb/core";

/**
 * `secret:env:NAME` from the worker's environment, `secret:file:/path` from its disk (one trailing
 * newline dropped: `echo token > file` is how such files are made). Read at the moment a command's
 * environment is built, so a rotated secret is picked up without a restart and the value is never kept.
 */
export function workerSecretResolver(env: Readonly<Record<string, string | undefined>>): SecretResolver {
  return (ref) => {
    if (ref.source === "env") return env[ref.name];
    return readFileSync(ref.path, "utf8").replace(/\r?\n$/, "");
  };
}
