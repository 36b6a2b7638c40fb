import type { IncomingMessage } from "node:http";
import { endToEndHeaders } from "./headers.js";

/** The client's request as bytes for the upstream connection, with the body (already read) framed by length. */
export function serializeRequest(req: IncomingMessage, body: Buffer): Buffer {
  const headers = endToEndHeaders(req.rawHeaders, ["content-length", "x-forwarded-for"]);
  // The proxy keeps its upstream connections: ask for keep-alive whatever the client's connection does.
  headers.push(["Connection", "keep-alive"]);
  const forwardedFor = [req.headers["x-forwarded-for"], req.socket.remoteAddress].filter(Boolean).join(", ");
  if (forwardedFor) headers.push(["X-Forwarded-For", forwardedFor]);
  const hadBody =
    req.headers["content-length"] !== undefined || req.headers["transfer-encoding"] !== undefined;
  if (body.length > 0 || hadBody) headers.push(["Content-Length", String(body.length)]);
  // Node's server parser already rejected CR/LF in the request line and header values.
  const head = `${req.method ?? "GET"} ${req.url ?? "/"} HTTP/1.1\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join("")}\r\n`;
  return body.length > 0 ? Buffer.concat([Buffer.from(head, "latin1"), body]) : Buffer.from(head, "latin1");
}
