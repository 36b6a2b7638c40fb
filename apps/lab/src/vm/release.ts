import { randomBytes } from "node:crypto";
import { mkdir, readFile, readlink, rename, rm, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { vmPaths } from "./layout.js";

/** A release name: safe as a folder name and inert in any shell (no spaces, `;`, `/`, `$`, ...). */
export const VM_VERSION_RE = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/;

export class InvalidVmVersionError extends Error {
  constructor(version: string) {
    super(
      `invalid VERSION ${JSON.stringify(version)}: expected 1-64 characters of letters, digits and . _ + - ` +
        "(starting with a letter or digit)",
    );
    this.name = "InvalidVmVersionError";
  }
}

export function assertValidVmVersion(version: string): void {
  // The first character is never a dot, so "." and ".." (path operators) cannot pass either.
  if (!VM_VERSION_RE.test(version)) throw new InvalidVmVersionError(version);
}

/**
 * Writes releases/<version>/ (VERSION + index.html) and points `current` at it. The link is switched the way
 * deploy tools do it: a new symlink under a temporary name, then rename(2) over `current`, so a reader sees
 * either the old or the new release, never a missing link.
 */
export async function installRelease(dir: string, version: string): Promise<void> {
  assertValidVmVersion(version);
  const p = vmPaths(dir);
  const release = path.join(p.releases, version);
  await mkdir(release, { recursive: true });
  await writeFile(path.join(release, "VERSION"), `${version}\n`);
  await writeFile(
    path.join(release, "index.html"),
    `<!doctype html><title>${version}</title><p>release ${version}</p>\n`,
  );
  const tmp = `${p.current}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  await symlink(path.join("releases", version), tmp);
  try {
    await rename(tmp, p.current);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new Error(`cannot switch ${p.current} to ${version}`, { cause: err });
  }
}

/** The version `current` points at now, or null when nothing is deployed. */
export async function currentVersion(dir: string): Promise<string | null> {
  const p = vmPaths(dir);
  try {
    return (await readFile(path.join(p.current, "VERSION"), "utf8")).trim();
  } catch {
    try {
      return path.basename(await readlink(p.current));
    } catch {
      return null;
    }
  }
}
