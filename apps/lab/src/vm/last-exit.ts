import { renameSync, writeFileSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import { z } from "zod";

/** last-exit.json: how the VM's web server process last ended. */
export interface LastExit {
  at: string;
  clean: boolean;
  signal: string | null;
  /** Requests still being answered when the process ended. */
  inFlight: number;
  droppedRequests: number;
  /** Background jobs that had not finished. */
  droppedJobs: string[];
  reason: string;
}

const lastExitSchema = z.object({
  at: z.string(),
  clean: z.boolean(),
  signal: z.string().nullable(),
  inFlight: z.int().nonnegative(),
  droppedRequests: z.int().nonnegative(),
  droppedJobs: z.array(z.string()),
  reason: z.string(),
});

/** Synchronous and atomic: it is the last thing the process does before `process.exit`. */
export function writeLastExitSync(file: string, exit: LastExit): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(exit, null, 2)}\n`);
  renameSync(tmp, file);
}

/** The recorded exit, or null when there is none (or it is unreadable). */
export async function readLastExit(file: string): Promise<LastExit | null> {
  try {
    const parsed = lastExitSchema.safeParse(JSON.parse(await readFile(file, "utf8")));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

export async function removeLastExit(file: string): Promise<void> {
  await rm(file, { force: true });
}
