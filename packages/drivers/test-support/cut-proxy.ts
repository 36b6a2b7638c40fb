import { once } from "node:events";
import { connect, createServer, type Socket } from "node:net";

/**
 * A TCP relay the test can cut: `cut()` destroys every relayed connection and refuses new ones until
 * `restore()`. Stands in for a network failure between a client and a server that both stay up.
 */
export interface CutProxy {
  url: string;
  cut(): void;
  restore(): void;
  /** Open client connections that sent something (undici may also hold an idle spare connection). */
  connections(): number;
  close(): Promise<void>;
}

export async function startCutProxy(
  host: string,
  upstream: { host: string; port: number },
): Promise<CutProxy> {
  const sockets = new Set<Socket>();
  let blocked = false;
  const track = (s: Socket): void => {
    sockets.add(s);
    s.on("error", () => {});
    s.on("close", () => sockets.delete(s));
  };
  const clients = new Set<Socket>();
  const server = createServer((client) => {
    track(client);
    client.once("data", () => clients.add(client));
    client.on("close", () => clients.delete(client));
    if (blocked) {
      client.resetAndDestroy();
      return;
    }
    const up = connect(upstream.port, upstream.host);
    track(up);
    client.pipe(up).pipe(client);
    client.on("close", () => up.destroy());
    up.on("close", () => client.destroy());
  });
  server.listen(0, host);
  await once(server, "listening");
  const port = (server.address() as { port: number }).port;
  const cutAll = (): void => {
    for (const s of sockets) s.resetAndDestroy();
  };
  return {
    url: `http://${host}:${port}`,
    cut: () => {
      blocked = true;
      cutAll();
    },
    restore: () => {
      blocked = false;
    },
    connections: () => clients.size,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        cutAll();
      }),
  };
}
