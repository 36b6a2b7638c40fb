import type { IncomingMessage, ServerResponse } from "node:http";
import type { ApiErrorBody } from "@ebb/contracts";
import { type ArgumentsHost, Catch, type ExceptionFilter, Inject, Injectable, Logger } from "@nestjs/common";
import { HttpAdapterHost } from "@nestjs/core";
import { mapError } from "./error-mapping.js";
import { ensureRequestId } from "./request-id.js";

/**
 * The one place errors become HTTP answers: `{ error: { code, message, details, requestId } }`.
 * Domain errors keep their code and message; unknown errors become a 500 with an error id, and only the
 * log gets the stack.
 */
@Catch()
@Injectable()
export class ApiExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger("http");
  // Injected by explicit token (not by constructor type): Biome rewrites an import used only as a
  // type into `import type`, which would erase the run-time type Nest resolves constructor params by.
  @Inject(HttpAdapterHost) private readonly adapterHost!: HttpAdapterHost;

  catch(exception: unknown, host: ArgumentsHost): void {
    // Outside HTTP (the worker's application context) there is no one to answer: let it propagate.
    if (host.getType() !== "http") throw exception;
    const http = host.switchToHttp();
    const req = http.getRequest<IncomingMessage>();
    const res = http.getResponse<ServerResponse>();
    const adapter = this.adapterHost.httpAdapter;
    const requestId = ensureRequestId(req, res);
    const mapped = mapError(exception);
    const where = `${req.method} ${req.url} (request ${requestId})`;

    if (mapped.severity === "error") {
      const stack = exception instanceof Error ? (exception.stack ?? exception.message) : String(exception);
      this.logger.error(`error ${mapped.errorId} on ${where}: ${stack}`);
    } else if (mapped.severity === "warn") {
      this.logger.warn(`${mapped.status} ${mapped.code} on ${where}: ${mapped.message}`);
    }

    if (adapter.isHeadersSent(res)) {
      // Headers are gone (a stream failed half-way): all we can do is end it; the client sees it cut.
      adapter.end(res);
      return;
    }
    const body: ApiErrorBody = {
      error: { code: mapped.code, message: mapped.message, details: mapped.details, requestId },
    };
    adapter.reply(res, body, mapped.status);
  }
}
