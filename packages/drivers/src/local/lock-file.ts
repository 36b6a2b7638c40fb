import { join } from "node:path";

/**
 * `<lockDir>/<target>.lock`, with the target name percent-encoded so that no name (`../x`, `a/b`) can
 * point outside the lock directory; plain names (`vm1`, `127.0.0.11:8080`) stay readable.
 */
export function lockFilePath(lockDir: string, target: string): string {
  if (target === "") throw new Error("target must not be empty");
  return join(lockDir, `${encodeURIComponent(target)}.lock`);
}
