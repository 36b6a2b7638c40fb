import { ConsoleLogger, type LogLevel as NestLogLevel } from "@nestjs/common";
import type { LogLevel } from "../config/config.js";

const NEST_LEVELS: Readonly<Record<LogLevel, NestLogLevel[]>> = {
  error: ["fatal", "error"],
  warn: ["fatal", "error", "warn"],
  info: ["fatal", "error", "warn", "log"],
  debug: ["fatal", "error", "warn", "log", "debug", "verbose"],
};

export function createLogger(level: LogLevel): ConsoleLogger {
  return new ConsoleLogger("ebb", { logLevels: NEST_LEVELS[level] });
}
