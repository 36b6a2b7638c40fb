import { once } from "node:events";
import { createServer } from "node:http";

/** A fake real server behind the device: its health-check status is the test's to flip. */
export interface HttpUpstream {
  host: string;
  port: number;
  healthStatus: number;
  close(): Promise<void>;
}

export async function startHttpUpstream(host: string): Promise<HttpUpstream> {
  const server = createServer();
  server.listen(0, host);
  await once(server, "listening");
  const up: HttpUpstream = {
    host,
    port: (server.address() as { port: number }).port,
    healthStatus: 200,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  server.on("request", (req, res) => {
    req.resume();
    const status = req.url === "/health_check.html" ? up.healthStatus : 200;
    const body = status === 200 ? "ok" : "not found";
    res.writeHead(status, { "content-type": "text/plain", "content-length": String(body.length) }).end(body);
  });
  return up;
}
