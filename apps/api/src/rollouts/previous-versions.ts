import { EbbError, rollbackVersion } from "@ebb/core";

const REPORT_TIMEOUT_MS = 2_000;

interface TargetRow {
  name: string;
  version: string | null;
  facts: unknown;
}

/**
 * What each target runs before a rollout: the version the last rollout that succeeded on it recorded, else
 * what it reports itself (a `versionUrl` fact answering JSON with `version`, as the lab VMs and pods do),
 * else null (unknown). A rollback goes back to these; it never guesses one. Recorded first: a fleet of a
 * thousand targets is not probed on every rollout, only until Ebb has seen each of them deployed once.
 */
export async function previousVersions(
  targets: readonly TargetRow[],
  names: readonly string[],
): Promise<Map<string, string | null>> {
  const wanted = targets.filter((t) => names.includes(t.name));
  const entries = await Promise.all(
    wanted.map(async (t): Promise<[string, string | null]> => [t.name, t.version ?? (await reported(t))]),
  );
  return new Map(entries);
}

async function reported(t: TargetRow): Promise<string | null> {
  const url = (t.facts as { versionUrl?: unknown } | null)?.versionUrl;
  if (typeof url !== "string") return null;
  try {
    const res = await fetch(url, {
      signal: AbortSignal.timeout(REPORT_TIMEOUT_MS),
      headers: { connection: "close" },
    });
    if (!res.ok) return null;
    const body = (await res.json()) as { version?: unknown };
    return typeof body.version === "string" && body.version !== "" ? body.version : null;
  } catch {
    // Stopped, draining, unreachable: the recorded version (if any) stands in.
    return null;
  }
}

/** `onFailure: rollback` needs one known version to go back to, checked before anything is written. */
export function assertRollbackPossible(previous: ReadonlyMap<string, string | null>): void {
  try {
    rollbackVersion(Object.fromEntries(previous));
  } catch (err) {
    if (err instanceof EbbError)
      throw new EbbError("rollback_unavailable", `onFailure: rollback: ${err.message}`, {
        details: [{ field: "onFailure", message: err.message }],
        cause: err,
      });
    throw err;
  }
}
