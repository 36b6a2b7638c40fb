// Hop-by-hop headers (RFC 9110 section 7.6.1) describe one connection; a proxy must not forward them.
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/**
 * End-to-end headers from a flat [name, value, ...] list, without hop-by-hop ones (including those the
 * Connection header names) and without the names in `drop`.
 */
export function endToEndHeaders(flat: readonly string[], drop: readonly string[] = []): [string, string][] {
  const pairs: [string, string][] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) pairs.push([flat[i] ?? "", flat[i + 1] ?? ""]);
  const named = new Set(drop);
  for (const [k, v] of pairs) {
    if (k.toLowerCase() === "connection") for (const t of v.split(",")) named.add(t.trim().toLowerCase());
  }
  return pairs.filter(([k]) => {
    const name = k.toLowerCase();
    return !HOP_BY_HOP.has(name) && !named.has(name);
  });
}

export function flatten(pairs: readonly [string, string][]): string[] {
  return pairs.flat();
}
