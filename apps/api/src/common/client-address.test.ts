import type { IncomingMessage } from "node:http";
import { describe, expect, it } from "vitest";
import { clientAddressOf, parseTrustProxy, type TrustProxy } from "./client-address.js";

function from(socket: string, xff?: string): IncomingMessage {
  return {
    headers: xff === undefined ? {} : { "x-forwarded-for": xff },
    socket: { remoteAddress: socket },
  } as unknown as IncomingMessage;
}

describe("the client address behind trusted proxies", () => {
  // The dashboard appends the browser's address; a browser may send any X-Forwarded-For it likes first.
  const forged = from("127.0.0.1", "203.0.113.9, 198.51.100.7");

  it("without trust, the socket's address; a forged header changes nothing", () => {
    expect(clientAddressOf(forged, false)).toBe("127.0.0.1");
    expect(clientAddressOf(from("::ffff:10.0.0.1"), false)).toBe("10.0.0.1");
  });

  it("with one hop, the entry the proxy appended (right-most), not the client-written left-most", () => {
    expect(clientAddressOf(forged, { hops: 1 })).toBe("198.51.100.7");
    expect(clientAddressOf(forged, { hops: 2 })).toBe("203.0.113.9");
    // More hops configured than present: the left-most is the best we have.
    expect(clientAddressOf(forged, { hops: 5 })).toBe("203.0.113.9");
    // A request straight to the API (no header) is its socket.
    expect(clientAddressOf(from("10.1.1.1"), { hops: 1 })).toBe("10.1.1.1");
  });

  it("with proxy addresses, the first address from the right that is not a proxy", () => {
    const trust: TrustProxy = { addresses: ["127.0.0.0/8", "10.0.0.5"] };
    expect(clientAddressOf(from("127.0.0.1", "203.0.113.9, 198.51.100.7, 10.0.0.5"), trust)).toBe(
      "198.51.100.7",
    );
    // A caller that is not a proxy is the client, whatever header it sends.
    expect(clientAddressOf(from("192.0.2.4", "203.0.113.9"), trust)).toBe("192.0.2.4");
  });

  it("parses EBB_TRUST_PROXY and names what is wrong", () => {
    expect(parseTrustProxy("false")).toBe(false);
    expect(parseTrustProxy("true")).toEqual({ hops: 1 });
    expect(parseTrustProxy("2")).toEqual({ hops: 2 });
    expect(parseTrustProxy("127.0.0.1, 10.0.0.0/8")).toEqual({ addresses: ["127.0.0.1", "10.0.0.0/8"] });
    expect(parseTrustProxy("nope")).toEqual({ error: expect.stringMatching(/"nope" is not an IP/) });
    expect(parseTrustProxy("10.0.0.0/33")).toEqual({ error: expect.stringMatching(/not an IP/) });
  });
});
