import type { ServerResponse } from "node:http";
import { Controller, Get, Inject, Res } from "@nestjs/common";
import { ApiOperation, ApiProduces } from "@nestjs/swagger";
import { Access } from "../auth/access.js";
import type { EbbMetrics } from "./metrics.js";
import { METRICS } from "./tokens.js";

/**
 * `GET /metrics` (outside /api/v1, where Prometheus looks by default). Public like the health probes: it
 * holds counts, durations, statuses and fleet names, no secret and no id; keep the port off the internet
 * as you keep the API's.
 */
@Controller("metrics")
export class MetricsController {
  @Inject(METRICS) private readonly metrics!: EbbMetrics;

  @Get()
  @Access("public")
  @ApiOperation({
    summary:
      "Prometheus metrics (text exposition format): rollouts by status, step durations, targets out of " +
      "service, queue depth, worker connections, lease conflicts, drain client errors, event streams, process",
  })
  @ApiProduces("text/plain")
  async scrape(@Res() res: ServerResponse): Promise<void> {
    const { contentType, body } = await this.metrics.scrape();
    res.writeHead(200, { "content-type": contentType, "cache-control": "no-store" });
    res.end(body);
  }
}
