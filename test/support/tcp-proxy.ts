import net from "node:net";

/**
 * A TCP proxy a test controls, in front of something Ebb talks to (a balancer's admin API, a target's
 * port): `refuse` resets every connection (the far side is down), `stall` holds every byte both ways
 * and every new connection's upstream dial (a network that stopped carrying packets), `pass` forwards.
 */
export type ProxyMode = "pass" | "refuse" | "stall";

export interface TcpProxy {
  host: string;
  port: number;
  url: string;
  mode(): ProxyMode;
  setMode(mode: ProxyMode): void;
  close(): Promise<void>;
}

interface Pair {
  client: net.Socket;
  upstream: net.Socket | undefined;
  /** Bytes held while stalled, per direction, flushed in order when the proxy passes again. */
  toUpstream: Buffer[];
  toClient: Buffer[];
}

export async function startTcpProxy(
  listen: { host: string; port?: number },
  upstream: { host: string; port: number },
): Promise<TcpProxy> {
  let mode: ProxyMode = "pass";
  const pairs = new Set<Pair>();

  const dial = (p: Pair) => {
    const up = net.connect(upstream.port, upstream.host);
    p.upstream = up;
    up.on("data", (chunk) => {
      if (mode === "pass" && p.toClient.length === 0) p.client.write(chunk);
      else p.toClient.push(chunk);
    });
    up.on("connect", () => flush(p));
    up.on("error", () => p.client.destroy());
    up.on("close", () => {
      // Hold the close too while stalled: the client sees it only once bytes move again.
      if (mode === "pass") p.client.end();
    });
  };
  const flush = (p: Pair) => {
    if (mode !== "pass") return;
    if (!p.upstream) return dial(p);
    if (p.upstream.connecting) return;
    for (const b of p.toUpstream.splice(0)) p.upstream.write(b);
    for (const b of p.toClient.splice(0)) p.client.write(b);
    if (p.upstream.destroyed && !p.client.destroyed) p.client.end();
  };

  const server = net.createServer((client) => {
    if (mode === "refuse") {
      client.resetAndDestroy();
      return;
    }
    const p: Pair = { client, upstream: undefined, toUpstream: [], toClient: [] };
    pairs.add(p);
    client.on("data", (chunk) => {
      if (mode === "pass" && p.upstream && !p.upstream.connecting && p.toUpstream.length === 0)
        p.upstream.write(chunk);
      else p.toUpstream.push(chunk);
    });
    client.on("error", () => p.upstream?.destroy());
    client.on("close", () => {
      pairs.delete(p);
      p.upstream?.destroy();
    });
    if (mode === "pass") dial(p);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port ?? 0, listen.host, () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    host: listen.host,
    port,
    url: `http://${listen.host}:${port}`,
    mode: () => mode,
    setMode(next) {
      mode = next;
      if (next === "refuse")
        for (const p of pairs) {
          p.client.resetAndDestroy();
          p.upstream?.destroy();
        }
      if (next === "pass") for (const p of pairs) flush(p);
    },
    async close() {
      for (const p of pairs) {
        p.client.destroy();
        p.upstream?.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
