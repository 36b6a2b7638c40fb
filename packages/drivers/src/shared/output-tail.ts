/** What an ExecResult keeps of a command's output: enough to explain a failure, bounded in memory. */
export const TAIL_MAX_LINES = 64;
export const TAIL_MAX_BYTES = 16 * 1024;

/**
 * The last lines of stdout and stderr, interleaved in arrival order. Chunks arrive already decoded
 * (each stream through its own decoder), so a multi-byte character is never split across chunks.
 */
export class OutputTail {
  private text = "";

  append(chunk: string): void {
    this.text += chunk;
    // Trim lazily: keeping up to twice the byte budget (in UTF-16 units, at most 4 bytes each) avoids
    // re-slicing on every small chunk.
    if (this.text.length > TAIL_MAX_BYTES * 2) this.text = this.text.slice(-TAIL_MAX_BYTES);
  }

  /** Adds a line of Ebb's own (why the command did not start, or was killed), on a line of its own. */
  note(line: string): void {
    if (this.text !== "" && !this.text.endsWith("\n")) this.append("\n");
    this.append(`${line}\n`);
  }

  toString(): string {
    let out = this.text;
    let bytes = Buffer.from(out, "utf8");
    if (bytes.length > TAIL_MAX_BYTES) {
      bytes = bytes.subarray(bytes.length - TAIL_MAX_BYTES);
      // A cut inside a multi-byte character leaves continuation bytes (10xxxxxx) at the start: drop them.
      let start = 0;
      while (start < bytes.length && ((bytes[start] ?? 0) & 0xc0) === 0x80) start++;
      out = bytes.subarray(start).toString("utf8");
    }
    const body = out.endsWith("\n") ? out.slice(0, -1) : out;
    const lines = body.split("\n");
    if (lines.length > TAIL_MAX_LINES)
      return `${lines.slice(-TAIL_MAX_LINES).join("\n")}${out.endsWith("\n") ? "\n" : ""}`;
    return out;
  }
}
