import { describe, expect, it } from "vitest";
import { type ParsedResponse, ResponseParseError, ResponseParser } from "./response-parser.js";

/** Feeds the text one byte at a time: every state must survive a split anywhere. */
function parseBytewise(text: string, headRequest = false): { parser: ResponseParser; res?: ParsedResponse } {
  const parser = new ResponseParser(headRequest);
  let res: ParsedResponse | undefined;
  for (const byte of Buffer.from(text, "latin1")) res = parser.push(Buffer.from([byte])) ?? res;
  return res ? { parser, res } : { parser };
}

describe("ResponseParser", () => {
  it("reads a Content-Length body and keeps HTTP/1.1 connections alive", () => {
    const { res, parser } = parseBytewise("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello");
    expect(res).toMatchObject({ statusCode: 200, statusMessage: "OK", httpVersion: "1.1", keepAlive: true });
    expect(res?.body.toString()).toBe("hello");
    expect(res?.headers).toEqual([
      ["Content-Length", "5"],
      ["X-A", "b"],
    ]);
    expect(parser.extraBytes).toBe(0);
  });

  it("decodes chunked bodies with extensions and trailers", () => {
    const text =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\nA\r\n, world!!!\r\n0\r\nX-T: 1\r\n\r\n";
    const { res } = parseBytewise(text);
    expect(res?.body.toString()).toBe("hello, world!!!");
    expect(res?.keepAlive).toBe(true);
  });

  it("skips interim 1xx responses", () => {
    const { res } = parseBytewise(
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
    );
    expect(res?.statusCode).toBe(201);
    expect(res?.body.toString()).toBe("ok");
  });

  it("knows which responses have no body", () => {
    expect(parseBytewise("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", true).res?.body.length).toBe(0);
    expect(parseBytewise("HTTP/1.1 204 No Content\r\n\r\n").res?.statusCode).toBe(204);
    expect(parseBytewise("HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n").res?.statusCode).toBe(304);
  });

  it("reads an unframed body until EOF and does not reuse that connection", () => {
    const { parser, res } = parseBytewise("HTTP/1.1 200 OK\r\n\r\npartial");
    expect(res).toBeUndefined();
    const done = parser.end();
    expect(done?.body.toString()).toBe("partial");
    expect(done?.keepAlive).toBe(false);
  });

  it("does not reuse Connection: close or plain HTTP/1.0 responses", () => {
    expect(
      parseBytewise("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").res?.keepAlive,
    ).toBe(false);
    expect(parseBytewise("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").res?.keepAlive).toBe(false);
    const ka = parseBytewise("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n");
    expect(ka.res?.keepAlive).toBe(true);
  });

  it("reports a truncated body as incomplete at EOF and counts extra bytes", () => {
    const { parser } = parseBytewise("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
    expect(parser.end()).toBeUndefined();
    expect(parser.started).toBe(true);
    const extra = parseBytewise("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nabc");
    expect(extra.parser.extraBytes).toBe(2);
  });

  it("rejects malformed responses", () => {
    expect(() => parseBytewise("HELLO\r\n\r\n")).toThrow(ResponseParseError);
    expect(() => parseBytewise("HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n")).toThrow(/content-length/);
    expect(() => parseBytewise("HTTP/1.1 200 OK\r\nno colon\r\n\r\n")).toThrow(/header line/);
    expect(() => parseBytewise("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")).toThrow(
      /chunk size/,
    );
    expect(() => parseBytewise("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc")).toThrow(
      /CRLF/,
    );
  });
});
