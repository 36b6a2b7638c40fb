import type { IncomingMessage } from "node:http";
import { BlockList, isIP } from "node:net";

/**
 * Which proxies in front of the API may say who the client is (EBB_TRUST_PROXY):
 * - `false`: nobody; the socket's address is the client (a client cannot forge it).
 * - `{ hops: N }`: the last N hops are our proxies (the dashboard is one). Each proxy appends the address
 *   it saw to X-Forwarded-For, so the client is the entry N places from the right of
 *   `X-Forwarded-For + socket address`. Everything further left was written by the client and is ignored:
 *   taking the left-most entry lets any browser name any address through the dashboard.
 * - `{ addresses }`: proxies by address or CIDR; walking from the socket leftwards, the first address that
 *   is not one of them is the client.
 */
export type TrustProxy = false | { readonly hops: number } | { readonly addresses: readonly string[] };

/** Parses EBB_TRUST_PROXY: false | true (one hop) | a number of hops | a comma-separated list of addresses/CIDRs. */
export function parseTrustProxy(value: string): TrustProxy | { error: string } {
  const text = value.trim();
  if (text === "" || text === "false" || text === "0") return false;
  if (text === "true") return { hops: 1 };
  if (/^\d+$/.test(text)) {
    const hops = Number(text);
    return hops <= 10 ? { hops } : { error: "must be at most 10 hops" };
  }
  const addresses = text.split(",").map((s) => s.trim());
  for (const a of addresses) {
    const [ip, bits] = a.split("/");
    const family = isIP(ip ?? "");
    const max = family === 6 ? 128 : 32;
    if (family === 0 || (bits !== undefined && (!/^\d+$/.test(bits) || Number(bits) > max)))
      return {
        error: `"${a}" is not an IP address or CIDR (expected false, true, a hop count or addresses)`,
      };
  }
  return { addresses };
}

const lists = new WeakMap<readonly string[], BlockList>();

function trustedList(addresses: readonly string[]): BlockList {
  let list = lists.get(addresses);
  if (list === undefined) {
    list = new BlockList();
    for (const a of addresses) {
      const [ip = "", bits] = a.split("/");
      const type = isIP(ip) === 6 ? "ipv6" : "ipv4";
      if (bits === undefined) list.addAddress(ip, type);
      else list.addSubnet(ip, Number(bits), type);
    }
    lists.set(addresses, list);
  }
  return list;
}

function normalize(address: string): string {
  const a = address.trim();
  return a.startsWith("::ffff:") && isIP(a.slice(7)) === 4 ? a.slice(7) : a;
}

function isTrusted(list: BlockList, address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  return list.check(address, family === 6 ? "ipv6" : "ipv4");
}

/** The client's address under the trust settings; null when the socket has none (it closed). */
export function clientAddressOf(req: IncomingMessage, trust: TrustProxy): string | null {
  const socket = req.socket.remoteAddress;
  if (socket === undefined) return null;
  const peer = normalize(socket);
  if (trust === false) return peer;
  const header = req.headers["x-forwarded-for"];
  const forwarded = (Array.isArray(header) ? header.join(",") : (header ?? ""))
    .split(",")
    .map(normalize)
    .filter((s) => s !== "");
  const chain = [...forwarded, peer];
  if ("hops" in trust) return chain[Math.max(0, chain.length - 1 - trust.hops)] ?? peer;
  const list = trustedList(trust.addresses);
  for (let i = chain.length - 1; i > 0; i--) {
    if (!isTrusted(list, chain[i] as string)) return chain[i] as string;
  }
  // Every hop is a trusted proxy: the left-most is as close to the client as we can tell.
  return chain[0] ?? peer;
}
