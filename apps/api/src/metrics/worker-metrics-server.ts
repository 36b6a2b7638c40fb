import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from "@nestjs/common";
import { CONFIG } from "../common/tokens.js";
import type { EbbConfig } from "../config/config.js";
import type { EbbMetrics } from "./metrics.js";
import { METRICS } from "./tokens.js";

/**
 * A worker-only process serves no API, so its /metrics get a plain HTTP server of their own on
 * EBB_METRICS_HOST:EBB_METRICS_PORT (default 127.0.0.1:4001; 0 = any free port, logged). Only
 * `GET /metrics`; anything else is 404.
 */
@Injectable()
export class WorkerMetricsServer implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger("metrics");
  @Inject(CONFIG) private readonly config!: EbbConfig;
  @Inject(METRICS) private readonly metrics!: EbbMetrics;
  private server: Server | undefined;
  /** `http://host:port/metrics` once listening. */
  url: string | undefined;

  async onApplicationBootstrap(): Promise<void> {
    const { host, port } = this.config.metrics;
    if (port === null) return;
    const server = createServer((req, res) => {
      const path = (req.url ?? "/").split("?")[0];
      if (req.method !== "GET" || path !== "/metrics") {
        res.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("only GET /metrics here\n");
        return;
      }
      this.metrics.scrape().then(
        ({ contentType, body }) => res.writeHead(200, { "content-type": contentType }).end(body),
        (err: unknown) => {
          this.logger.warn(`scrape failed: ${err instanceof Error ? err.message : String(err)}`);
          res.writeHead(500, { "content-type": "text/plain; charset=utf-8" }).end("scrape failed\n");
        },
      );
    });
    server.listen(port, host);
    // A taken port must stop the worker at start, naming the variable, not leave it running unscraped.
    await Promise.race([
      once(server, "listening"),
      once(server, "error").then(([err]) => {
        throw new Error(
          `worker metrics: cannot listen on ${host}:${port} (EBB_METRICS_PORT; 0 picks a free port, off disables): ${(err as Error).message}`,
        );
      }),
    ]);
    this.server = server;
    const bound = (server.address() as AddressInfo).port;
    this.url = `http://${host.includes(":") ? `[${host}]` : host}:${bound}/metrics`;
    this.logger.log(`worker metrics on ${this.url}`);
  }

  async onApplicationShutdown(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
