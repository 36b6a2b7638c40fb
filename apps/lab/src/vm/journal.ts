import { appendFileSync, readFileSync, renameSync, writeFileSync } from "node:fs";

/**
 * The background-work journal: `start <id>` before a job runs, `done <id>` when it finished. A job with a
 * start and no done was lost by a process that died without draining (SIGKILL, stop deadline). Writes are
 * synchronous so the line is on disk before the client gets its 202.
 */
export class JobJournal {
  constructor(private readonly file: string) {}

  /** Job ids journaled `start` without `done`, in start order. */
  unfinished(): string[] {
    let text: string;
    try {
      text = readFileSync(this.file, "utf8");
    } catch {
      return [];
    }
    const open = new Set<string>();
    for (const line of text.split("\n")) {
      const [op, id] = line.trim().split(/\s+/, 2);
      if (!id) continue;
      if (op === "start") open.add(id);
      else if (op === "done") open.delete(id);
    }
    return [...open];
  }

  /** Starts a fresh journal for this process: the previous run's entries were reported already. */
  compact(): void {
    const tmp = `${this.file}.tmp-${process.pid}`;
    writeFileSync(tmp, "");
    renameSync(tmp, this.file);
  }

  start(id: string): void {
    appendFileSync(this.file, `start ${id}\n`);
  }

  done(id: string): void {
    appendFileSync(this.file, `done ${id}\n`);
  }
}
