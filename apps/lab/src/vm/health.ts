import { access, rename, writeFile } from "node:fs/promises";
import { vmPaths } from "./layout.js";

export const HEALTH_CHECK_BODY = "<!doctype html><title>ok</title><p>OK</p>\n";

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

export async function healthCheckPresent(dir: string): Promise<boolean> {
  return exists(vmPaths(dir).healthCheck);
}

/**
 * `ok=false` renames docroot/health_check.html to health_check.html.disabled, so the check answers 404 (what
 * the documented runbook does by hand); `ok=true` renames it back. Both are idempotent.
 */
export async function setHealthCheck(dir: string, ok: boolean): Promise<void> {
  const p = vmPaths(dir);
  const [on, off] = [await exists(p.healthCheck), await exists(p.healthCheckDisabled)];
  if (ok) {
    if (on) return;
    if (off) await rename(p.healthCheckDisabled, p.healthCheck);
    else await writeFile(p.healthCheck, HEALTH_CHECK_BODY);
  } else if (on) {
    await rename(p.healthCheck, p.healthCheckDisabled);
  }
}
