import { once } from "node:events";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";

/** A fake real server: an HTTP server whose health-check answer the test scripts. */
export interface HttpUpstream {
  name: string;
  host: string;
  port: number;
  /** Status the health-check path answers with; flip to 404 to fail the server. */
  healthStatus: number;
  /** Requests other than health checks. */
  requests: number;
  /** Sockets that carried at least one non-health request and are still open. */
  readonly clientSockets: Set<Socket>;
  /** Called for every health-check request, after its response was written. */
  onHealthCheck: ((status: number) => void) | undefined;
  close(): Promise<void>;
}

/**
 * Paths: `/health_check.html` answers `healthStatus`; `/close` answers then closes with FIN; `/reset` answers
 * nothing and resets the connection; anything else answers 200 `{"server": name}` and keeps the connection.
 */
export async function startHttpUpstream(host: string, name?: string): Promise<HttpUpstream> {
  const server = createHttpServer();
  // Longer than any test's aging time: the upstream must never be the one closing idle connections.
  server.keepAliveTimeout = 60_000;
  server.listen(0, host);
  await once(server, "listening");
  const port = (server.address() as { port: number }).port;
  const up: HttpUpstream = {
    name: name ?? `${host}:${port}`,
    host,
    port,
    healthStatus: 200,
    requests: 0,
    clientSockets: new Set(),
    onHealthCheck: undefined,
    close: () => closeServer(server),
  };
  server.on("request", (req, res) => {
    req.resume();
    if (req.url === "/health_check.html") {
      const status = up.healthStatus;
      const text = status === 200 ? "ok" : "not found";
      res
        .writeHead(status, { "content-type": "text/plain", "content-length": String(text.length) })
        .end(text);
      up.onHealthCheck?.(status);
      return;
    }
    up.requests++;
    const socket = req.socket;
    if (!up.clientSockets.has(socket)) {
      up.clientSockets.add(socket);
      socket.once("close", () => up.clientSockets.delete(socket));
    }
    if (req.url === "/reset") {
      socket.resetAndDestroy();
      return;
    }
    const body = JSON.stringify({ server: up.name });
    // An explicit length: the tests' raw client does not speak chunked encoding.
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "content-length": String(Buffer.byteLength(body)),
    };
    if (req.url === "/close") headers.connection = "close";
    res.writeHead(200, headers).end(body);
  });
  server.on("clientError", (_err, socket) => socket.destroy());
  return up;
}

/** A raw TCP echo server (for payloads that are not HTTP); pass it with health-check mode `l4`. */
export interface EchoUpstream {
  name: string;
  host: string;
  port: number;
  readonly sockets: Set<Socket>;
  close(): Promise<void>;
}

export async function startEchoUpstream(host: string): Promise<EchoUpstream> {
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
    socket.pipe(socket);
  });
  server.listen(0, host);
  await once(server, "listening");
  const port = (server.address() as { port: number }).port;
  return { name: `${host}:${port}`, host, port, sockets, close: () => closeServer(server, sockets) };
}

function closeServer(server: HttpServer | NetServer, sockets?: Set<Socket>): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => resolve());
    if ("closeAllConnections" in server) server.closeAllConnections();
    for (const s of sockets ?? []) s.destroy();
  });
}
