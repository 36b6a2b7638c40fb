import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { INestApplication } from "@nestjs/common";

/**
 * Drains the HTTP server the way Ebb drains a target: stop accepting connections, close the idle
 * keep-alive ones, and end every other one after its current response (`Connection: close`), so no
 * client keeps a connection to a process that is about to exit. Requests in flight finish normally.
 */
export function drainableHttp(app: INestApplication): { drain(): void } {
  let draining = false;
  const pending = new Set<ServerResponse>();
  // Registered before the routes, so it sees every request.
  app.use((_req: IncomingMessage, res: ServerResponse, next: () => void) => {
    if (draining) {
      res.setHeader("connection", "close");
    } else {
      pending.add(res);
      res.once("close", () => pending.delete(res));
    }
    next();
  });
  return {
    drain() {
      draining = true;
      // A response still being computed would otherwise leave its connection open as keep-alive, and
      // the server's close would wait for that connection's idle timeout.
      // An event stream has sent its headers long ago: once it ends, its socket must go too, or close()
      // waits out the keep-alive timeout.
      for (const res of pending) {
        if (!res.headersSent) res.setHeader("connection", "close");
        else res.once("finish", () => res.socket?.destroySoon());
      }
      pending.clear();
      const server = app.getHttpServer() as Server;
      server.close();
      server.closeIdleConnections();
    },
  };
}
