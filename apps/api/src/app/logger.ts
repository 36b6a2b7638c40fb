import { ConsoleLogger, type LogLevel as NestLogLevel } from "@nestjs/common";
import { currentLogContext } from "../common/log-context.js";
import type { LogFormat, LogLevel } from "../config/config.js";

const NEST_LEVELS: Readonly<Record<LogLevel, NestLogLevel[]>> = {
  error: ["fatal", "error"],
  warn: ["fatal", "error", "warn"],
  info: ["fatal", "error", "warn", "log"],
  debug: ["fatal", "error", "warn", "log", "debug", "verbose"],
};

/**
 * Nest's own start-up chatter: a line per module loaded and per route mapped, "Starting Nest application".
 * At info level it buries the one start-up line each component prints; at debug it is still there for
 * whoever looks for a route.
 */
const NEST_WIRING: ReadonlySet<string> = new Set([
  "InstanceLoader",
  "RoutesResolver",
  "RouterExplorer",
  "NestFactory",
  "NestApplication",
]);

class EbbLogger extends ConsoleLogger {
  override log(message: unknown, ...rest: unknown[]): void {
    const context = rest.at(-1);
    if (typeof context === "string" && NEST_WIRING.has(context)) this.debug(message, ...rest);
    else super.log(message, ...rest);
  }

  // The request id / rollout id of the request or job this line is written for (withLogContext).
  protected override getJsonLogObject(
    message: unknown,
    options: Parameters<ConsoleLogger["getJsonLogObject"]>[1],
  ): ReturnType<ConsoleLogger["getJsonLogObject"]> {
    return { ...super.getJsonLogObject(message, options), ...currentLogContext() };
  }

  protected override formatContext(context: string): string {
    const fields = currentLogContext();
    const ids = [
      fields?.requestId ? `request ${fields.requestId}` : "",
      fields?.rolloutId ? `rollout ${fields.rolloutId}` : "",
    ].filter(Boolean);
    return ids.length === 0
      ? super.formatContext(context)
      : `${super.formatContext(context)}(${ids.join(", ")}) `;
  }
}

/**
 * `json`: one JSON object per line (level, pid, timestamp, context, message), what log collectors parse.
 * `auto` (the default) picks JSON when stdout is not a terminal, and colours only on a terminal: no ANSI
 * codes ever reach a pipe or a file.
 */
export function createLogger(
  level: LogLevel,
  format: LogFormat = "auto",
  isTTY: boolean = process.stdout.isTTY === true,
): ConsoleLogger {
  const json = format === "json" || (format === "auto" && !isTTY);
  return new EbbLogger("ebb", { logLevels: NEST_LEVELS[level], json, colors: !json && isTTY });
}
