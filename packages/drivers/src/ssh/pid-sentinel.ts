import { PID_SENTINEL } from "./remote-command.js";

const MAX_SENTINEL_BYTES = 64;

/**
 * Takes the pid line that remoteCommandLine() writes first on stderr out of the stream, so the command's
 * output stays its own. Anything else at the start (a login shell that is not POSIX and complained) is
 * passed through untouched, and the pid stays unknown.
 */
export class PidSentinel {
  pid: number | undefined;
  private pending: Buffer | undefined = Buffer.alloc(0);

  /** Whether the first line was read: `pid` is then known, or will never be. */
  get done(): boolean {
    return this.pending === undefined;
  }

  /** Returns the bytes that belong to the command's stderr. */
  filter(data: Buffer): Buffer {
    if (this.pending === undefined) return data;
    const buffered = Buffer.concat([this.pending, data]);
    const newline = buffered.indexOf(0x0a);
    if (newline < 0 && buffered.length < MAX_SENTINEL_BYTES) {
      this.pending = buffered;
      return Buffer.alloc(0);
    }
    this.pending = undefined;
    const line = newline < 0 ? "" : buffered.subarray(0, newline).toString("latin1");
    const match = line.startsWith(PID_SENTINEL) ? /^(\d+)$/.exec(line.slice(PID_SENTINEL.length)) : null;
    if (!match) return buffered;
    this.pid = Number(match[1]);
    return buffered.subarray(newline + 1);
  }
}
