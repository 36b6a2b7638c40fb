import { once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { ConfigError, UnknownServerError } from "../errors.js";
import { foreignRequestProblem } from "./host-check.js";
import { HttpError, sendError } from "./http-util.js";
import { type AdminDevice, route } from "./routes.js";

export interface AdminServer {
  readonly port: number;
  close(): Promise<void>;
}

/** The device's management API (JSON over HTTP, SSE events, Prometheus metrics). */
export async function startAdminServer(
  device: AdminDevice,
  address: { host: string; port: number },
  log: (line: string) => void,
): Promise<AdminServer> {
  const sseStreams = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    void handle(device, sseStreams, req, res, log);
  });
  server.listen(address.port, address.host);
  try {
    await once(server, "listening");
  } catch (err) {
    throw new Error(`cannot listen on admin ${address.host}:${address.port}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  server.on("error", (err) => log(`admin server error: ${err.message}`));
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : address.port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of sseStreams) res.end();
        server.close(() => resolve());
        // Keep-alive clients and event streams would otherwise hold close() open.
        server.closeAllConnections();
      }),
  };
}

async function handle(
  device: AdminDevice,
  sseStreams: Set<ServerResponse>,
  req: IncomingMessage,
  res: ServerResponse,
  log: (line: string) => void,
): Promise<void> {
  try {
    const foreign = foreignRequestProblem(req);
    if (foreign !== undefined) throw new HttpError(403, "forbidden", foreign);
    const url = new URL(req.url ?? "/", "http://admin.invalid");
    const { handler, params } = route(req.method ?? "GET", url.pathname);
    await handler({ req, res, url, params, device, sseStreams });
  } catch (err) {
    const httpError = toHttpError(err);
    if (httpError.status >= 500) log(`admin API ${req.method} ${req.url} failed: ${String(err)}`);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    sendError(res, httpError);
  }
}

function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof ConfigError) {
    return err.code === "conflict"
      ? new HttpError(409, "conflict", err.message, err.issues)
      : new HttpError(400, "invalid_config", err.message, err.issues);
  }
  if (err instanceof UnknownServerError) return new HttpError(404, "not_found", err.message);
  return new HttpError(500, "internal", "internal error");
}
