/**
 * Incremental parser for one HTTP/1.x response, small on purpose: it covers what Node http servers send
 * (Content-Length or chunked bodies, interim 1xx, read-until-close) and rejects anything else loudly.
 */

export interface ParsedResponse {
  httpVersion: "1.0" | "1.1";
  statusCode: number;
  statusMessage: string;
  /** In arrival order, names as sent. */
  headers: [string, string][];
  body: Buffer;
  /** The connection may carry another request: framed body, no `Connection: close`. */
  keepAlive: boolean;
}

export class ResponseParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ResponseParseError";
  }
}

const MAX_HEAD_BYTES = 64 * 1024;
const CRLF = Buffer.from("\r\n");
const HEAD_END = Buffer.from("\r\n\r\n");

type Framing =
  | { kind: "none" }
  | { kind: "length"; remaining: number }
  | { kind: "chunked" }
  | { kind: "close" };
type ChunkState = "size" | "data" | "data-crlf" | "trailers";

export class ResponseParser {
  private buf: Buffer = Buffer.alloc(0);
  private head: Omit<ParsedResponse, "body" | "keepAlive"> | undefined;
  private framing: Framing = { kind: "none" };
  private chunkState: ChunkState = "size";
  private chunkRemaining = 0;
  private readonly bodyParts: Buffer[] = [];
  private result: ParsedResponse | undefined;
  private trailing = 0;

  /** @param headRequest the request was HEAD: the response carries headers only. */
  constructor(private readonly headRequest: boolean) {}

  /** Feeds bytes; returns the response once complete. Throws ResponseParseError on malformed input. */
  push(chunk: Buffer): ParsedResponse | undefined {
    if (this.result) {
      this.trailing += chunk.length;
      return this.result;
    }
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    this.advance();
    return this.result;
  }

  /** The peer closed its side (EOF). Completes a read-until-close body; otherwise the response is truncated. */
  end(): ParsedResponse | undefined {
    if (!this.result && this.head && this.framing.kind === "close") this.complete(false);
    return this.result;
  }

  /** Bytes received after the complete response (a sane upstream sends none). */
  get extraBytes(): number {
    return this.trailing;
  }

  /** Some of the response arrived already. */
  get started(): boolean {
    return this.head !== undefined || this.buf.length > 0;
  }

  private advance(): void {
    for (;;) {
      if (!this.head) {
        if (!this.parseHead()) return;
        continue;
      }
      if (this.framing.kind === "none") {
        this.complete(true);
        return;
      }
      if (this.framing.kind === "close") {
        this.takeBody(this.buf.length);
        return;
      }
      if (this.framing.kind === "length") {
        const n = Math.min(this.framing.remaining, this.buf.length);
        this.takeBody(n);
        this.framing.remaining -= n;
        if (this.framing.remaining === 0) this.complete(true);
        return;
      }
      if (!this.parseChunked()) return;
    }
  }

  /** False when more bytes are needed. Skips interim 1xx responses. */
  private parseHead(): boolean {
    const end = this.buf.indexOf(HEAD_END);
    if (end === -1) {
      if (this.buf.length > MAX_HEAD_BYTES) throw new ResponseParseError("response head larger than 64 KiB");
      return false;
    }
    const lines = this.buf.subarray(0, end).toString("latin1").split("\r\n");
    this.buf = this.buf.subarray(end + HEAD_END.length);
    const status = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/.exec(lines[0] ?? "");
    if (!status) throw new ResponseParseError(`bad status line ${JSON.stringify(lines[0])}`);
    const headers: [string, string][] = [];
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      if (colon <= 0 || /^[ \t]/.test(line))
        throw new ResponseParseError(`bad header line ${JSON.stringify(line)}`);
      headers.push([line.slice(0, colon).trim(), line.slice(colon + 1).trim()]);
    }
    const statusCode = Number(status[2]);
    if (statusCode >= 100 && statusCode < 200) {
      if (statusCode === 101) throw new ResponseParseError("protocol upgrade (101) is not supported");
      return true; // interim response (100 Continue, 103 Early Hints): the real one follows
    }
    this.head = {
      httpVersion: status[1] === "0" ? "1.0" : "1.1",
      statusCode,
      statusMessage: status[3] ?? "",
      headers,
    };
    this.framing = this.bodyFraming(statusCode, headers);
    return true;
  }

  // RFC 9112 section 6.3, in its order of precedence.
  private bodyFraming(statusCode: number, headers: [string, string][]): Framing {
    if (this.headRequest || statusCode === 204 || statusCode === 304) return { kind: "none" };
    const te = values(headers, "transfer-encoding");
    if (te.length > 0) {
      const codings = te.flatMap((v) => v.split(",")).map((c) => c.trim().toLowerCase());
      return codings[codings.length - 1] === "chunked" ? { kind: "chunked" } : { kind: "close" };
    }
    const lengths = values(headers, "content-length").flatMap((v) => v.split(",").map((s) => s.trim()));
    if (lengths.length > 0) {
      const first = lengths[0] ?? "";
      if (!/^\d+$/.test(first) || lengths.some((l) => l !== first)) {
        throw new ResponseParseError(`bad content-length ${JSON.stringify(lengths.join(", "))}`);
      }
      const remaining = Number(first);
      return remaining === 0 ? { kind: "none" } : { kind: "length", remaining };
    }
    return { kind: "close" };
  }

  /** False when more bytes are needed. */
  private parseChunked(): boolean {
    switch (this.chunkState) {
      case "size": {
        const eol = this.buf.indexOf(CRLF);
        if (eol === -1) return this.needMore("chunk size line");
        const line = this.buf.subarray(0, eol).toString("latin1");
        this.buf = this.buf.subarray(eol + 2);
        const size = /^([0-9a-fA-F]{1,8})[ \t]*(?:;.*)?$/.exec(line);
        if (!size?.[1]) throw new ResponseParseError(`bad chunk size line ${JSON.stringify(line)}`);
        this.chunkRemaining = Number.parseInt(size[1], 16);
        this.chunkState = this.chunkRemaining === 0 ? "trailers" : "data";
        return true;
      }
      case "data": {
        const n = Math.min(this.chunkRemaining, this.buf.length);
        if (n === 0) return false;
        this.takeBody(n);
        this.chunkRemaining -= n;
        if (this.chunkRemaining === 0) this.chunkState = "data-crlf";
        return true;
      }
      case "data-crlf": {
        if (this.buf.length < 2) return false;
        if (this.buf[0] !== 0x0d || this.buf[1] !== 0x0a)
          throw new ResponseParseError("missing CRLF after chunk");
        this.buf = this.buf.subarray(2);
        this.chunkState = "size";
        return true;
      }
      case "trailers": {
        const eol = this.buf.indexOf(CRLF);
        if (eol === -1) return this.needMore("trailer line");
        this.buf = this.buf.subarray(eol + 2);
        if (eol === 0) this.complete(true); // the empty line ends the message; trailers are dropped
        return eol !== 0;
      }
    }
  }

  private needMore(what: string): false {
    if (this.buf.length > MAX_HEAD_BYTES) throw new ResponseParseError(`${what} longer than 64 KiB`);
    return false;
  }

  private takeBody(n: number): void {
    if (n > 0) this.bodyParts.push(this.buf.subarray(0, n));
    this.buf = this.buf.subarray(n);
  }

  private complete(framed: boolean): void {
    const head = this.head;
    if (!head) return;
    this.trailing = this.buf.length;
    this.buf = Buffer.alloc(0);
    this.result = { ...head, body: Buffer.concat(this.bodyParts), keepAlive: framed && persistent(head) };
  }
}

function values(headers: [string, string][], name: string): string[] {
  return headers.filter(([k]) => k.toLowerCase() === name).map(([, v]) => v);
}

function persistent(head: Omit<ParsedResponse, "body" | "keepAlive">): boolean {
  const tokens = values(head.headers, "connection").flatMap((v) =>
    v
      .toLowerCase()
      .split(",")
      .map((t) => t.trim()),
  );
  if (tokens.includes("close")) return false;
  return head.httpVersion === "1.1" || tokens.includes("keep-alive");
}
