import { redactUrl } from "../config/describe.js";
import { RedisSetupError } from "./errors.js";
import { withRedisProbe } from "./probe.js";

/**
 * Replies that mean "you may not run CONFIG here": managed Redis services rename or disable it, and an
 * ACL user may lack the permission. We cannot verify the policy then, only warn.
 */
const CONFIG_UNAVAILABLE = /unknown command|NOPERM|no permissions|disabled|not allowed/i;

export type RedisPolicyCheck = { policy: "noeviction" } | { policy: "unknown"; reason: string };

/**
 * Refuses a Redis that may evict keys. BullMQ keeps every job and its locks in Redis keys; under any
 * eviction policy but `noeviction`, memory pressure silently deletes them, which is a lost job (or two
 * workers on one job) with nothing in any log. When CONFIG is not allowed (managed Redis), we warn and
 * go on: the operator has to check the policy on the provider's side.
 */
export async function checkRedisPolicy(
  url: string,
  { log = () => {} }: { log?: (line: string) => void } = {},
): Promise<RedisPolicyCheck> {
  const where = redactUrl(url);
  let reply: unknown;
  try {
    reply = await withRedisProbe(url, (client) => client.config("GET", "maxmemory-policy"));
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (CONFIG_UNAVAILABLE.test(message)) {
      const reason = `CONFIG GET is not allowed on ${where} (${message})`;
      log(
        `warning: ${reason}; cannot verify maxmemory-policy. Make sure it is "noeviction": ` +
          "an evicted key is a lost job.",
      );
      return { policy: "unknown", reason };
    }
    throw new RedisSetupError(`cannot check the Redis at ${where}: ${message}`, { cause: err });
  }
  const policy = Array.isArray(reply) ? reply[1] : undefined;
  if (policy === "noeviction") return { policy };
  throw new RedisSetupError(
    `refusing to start: the Redis at ${where} has maxmemory-policy "${String(policy)}". ` +
      "Under memory pressure it would evict keys, and every evicted key is a lost job or a lost lock. " +
      'Set "maxmemory-policy noeviction" (redis.conf, or CONFIG SET maxmemory-policy noeviction) and start again.',
  );
}
