import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";

/**
 * PGlite does not guard its data folder: two processes (say an api and a worker both started on the
 * embedded default) would open the same files and corrupt them silently. This pid file refuses the second.
 */
export const DATA_DIR_LOCK_FILE = "ebb.pid";

/** Lock files this process holds: a file naming our pid but not in here is from an earlier process. */
const held = new Set<string>();

export interface OpenedPGlite {
  pglite: PGlite;
  dataDir: string;
  /** Closes PGlite, then releases the data folder. */
  close(): Promise<void>;
}

export class DataDirInUseError extends Error {
  override readonly name = "DataDirInUseError";
  constructor(
    readonly dataDir: string,
    readonly pid: number,
  ) {
    super(
      `the PGlite data folder ${dataDir} is in use by process ${pid}` +
        (pid === process.pid ? " (this process)" : "") +
        `; stop it, or remove ${path.join(dataDir, DATA_DIR_LOCK_FILE)} if no such process is Ebb`,
    );
  }
}

/** Creates the folder when missing (a fresh one is initialised by PGlite), locks it, opens PGlite. */
export async function openPGlite(dataDir: string): Promise<OpenedPGlite> {
  const dir = path.resolve(dataDir);
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    throw new Error(`cannot create the PGlite data folder ${dir}: ${messageOf(err)}`, { cause: err });
  }
  const release = await lockDataDir(dir);
  let pglite: PGlite;
  try {
    pglite = await PGlite.create(dir);
  } catch (err) {
    await release();
    throw new Error(`cannot open the PGlite database in ${dir}: ${messageOf(err)}`, { cause: err });
  }
  let closing: Promise<void> | undefined;
  return {
    pglite,
    dataDir: dir,
    close() {
      closing ??= (async () => {
        try {
          await pglite.close();
        } finally {
          await release();
        }
      })();
      return closing;
    },
  };
}

async function lockDataDir(dir: string): Promise<() => Promise<void>> {
  const file = path.join(dir, DATA_DIR_LOCK_FILE);
  for (let attempt = 0; ; attempt++) {
    try {
      await writeFile(file, `${process.pid}\n`, { flag: "wx" });
      held.add(file);
      return async () => {
        held.delete(file);
        await rm(file, { force: true });
      };
    } catch (err) {
      if (!isErrnoCode(err, "EEXIST") || attempt > 0) {
        throw new Error(`cannot lock the PGlite data folder ${dir}: ${messageOf(err)}`, { cause: err });
      }
    }
    const owner = Number.parseInt(await readFile(file, "utf8").catch(() => ""), 10);
    const ours = owner === process.pid && held.has(file);
    if (Number.isInteger(owner) && (ours || (owner !== process.pid && isAlive(owner)))) {
      throw new DataDirInUseError(dir, owner);
    }
    // Left by a process that died without closing (or by an earlier process that had our pid, as PID 1
    // in a restarted container does): take it over.
    await rm(file, { force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to another user.
    return isErrnoCode(err, "EPERM");
  }
}

function isErrnoCode(err: unknown, code: string): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
