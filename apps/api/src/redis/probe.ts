import { Redis } from "ioredis";
import { redactUrl } from "../config/describe.js";

/**
 * A one-shot Redis client for boot-time checks: no retries and no offline queue, so a dead or foreign
 * server fails the call at once instead of being retried in the background forever.
 */
export async function withRedisProbe<T>(
  url: string,
  fn: (client: Redis) => Promise<T>,
  { timeoutMs = 3000 }: { timeoutMs?: number } = {},
): Promise<T> {
  const client = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
  });
  // Without a listener ioredis prints every error. The socket's own error (ECONNREFUSED, ...) only
  // arrives here; the awaited call rejects with a vague "Connection is closed."
  let socketError: Error | undefined;
  client.on("error", (err: Error) => {
    socketError ??= err;
  });
  let timer: NodeJS.Timeout | undefined;
  // connectTimeout and commandTimeout do not cover ioredis' ready check: a server that accepts the
  // connection and never answers (not a Redis) would hang `connect()` without this deadline.
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer from ${redactUrl(url)} within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([
      (async () => {
        await client.connect();
        return fn(client);
      })(),
      deadline,
    ]);
  } catch (err) {
    if (socketError && err instanceof Error && /Connection is closed/.test(err.message)) throw socketError;
    throw err;
  } finally {
    clearTimeout(timer);
    client.disconnect();
  }
}

/** True when a Redis at `url` answers PING. */
export async function pingRedis(url: string, opts: { timeoutMs?: number } = {}): Promise<boolean> {
  try {
    return (await withRedisProbe(url, (client) => client.ping(), opts)) === "PONG";
  } catch {
    return false;
  }
}
