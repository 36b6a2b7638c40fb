import { AsyncLocalStorage } from "node:async_hooks";

/** What every log line written while serving one request or running one job carries. */
export interface LogContext {
  requestId?: string;
  rolloutId?: string;
}

const storage = new AsyncLocalStorage<LogContext>();

/** Runs `fn` (and everything it starts, awaited or not) with these fields on its log lines. */
export function withLogContext<T>(fields: LogContext, fn: () => T): T {
  return storage.run({ ...storage.getStore(), ...fields }, fn);
}

export function currentLogContext(): LogContext | undefined {
  return storage.getStore();
}
