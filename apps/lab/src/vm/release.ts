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

/** How a lab release misbehaves, from its name (see the lab README: "Bad releases"). */
export interface ReleaseFlags {
  /** Share of traffic requests (0-1) answered 500; monitoring requests never fail. */
  failRatio: number;
  /** Added to every traffic request's answer. */
  slowMs: number;
}

const FLAG_RE = /^(fail|slow)(\d{1,5})$/;

/**
 * A release's misbehaviour is part of its name, in the build metadata after `+` (`2.1.0+fail30` answers 500
 * to 30% of traffic requests, `2.1.0+slow200` adds 200 ms, `2.1.0+fail5.slow50` both), because a rollout
 * carries nothing but a version to a VM: the bad release goes through the same runbook as a good one.
 */
export function releaseFlags(version: string): ReleaseFlags {
  const flags: ReleaseFlags = { failRatio: 0, slowMs: 0 };
  const plus = version.indexOf("+");
  if (plus < 0) return flags;
  for (const part of version.slice(plus + 1).split(/[.-]/)) {
    const m = FLAG_RE.exec(part);
    if (!m) continue;
    const n = Number(m[2]);
    if (m[1] === "fail") flags.failRatio = Math.min(100, n) / 100;
    else flags.slowMs = n;
  }
  return flags;
}
