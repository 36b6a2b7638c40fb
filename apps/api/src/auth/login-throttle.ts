import { Inject, Injectable, Logger } from "@nestjs/common";
import { REDIS_CONNECTION } from "../common/tokens.js";
import type { RedisConnections } from "../redis/connections.js";
import { sha256Hex } from "./secrets.js";

export const LOGIN_MAX_FAILURES = 5;
export const LOGIN_WINDOW_MS = 15 * 60 * 1000;

/**
 * Counts failed logins per username and per client address in Redis, so every API process sees the
 * same counts: after LOGIN_MAX_FAILURES within LOGIN_WINDOW_MS (a fixed window from the first failure),
 * logins for that username or from that address get 429 until the window ends. Usernames are hashed in
 * the key: a password typed into the username field must not land in Redis. When Redis does not answer,
 * the process counts on its own rather than letting logins through unthrottled (or failing them all).
 */
@Injectable()
export class LoginThrottle {
  private readonly logger = new Logger("auth");
  @Inject(REDIS_CONNECTION) private readonly redis!: RedisConnections;
  private readonly local = new Map<string, { count: number; until: number }>();

  /** Milliseconds until a login may be tried again for this username or address; 0 when it may now. */
  async blockedFor(username: string, ip: string): Promise<number> {
    const keys = this.keys(username, ip);
    try {
      const client = this.redis.queueConnection();
      const replies = await client.multi().get(keys[0]).pttl(keys[0]).get(keys[1]).pttl(keys[1]).exec();
      const values = (replies ?? []).map(([err, value]) => {
        if (err) throw err;
        return value;
      });
      let wait = 0;
      for (let i = 0; i < 2; i++) {
        const count = Number(values[i * 2] ?? 0);
        const ttl = Number(values[i * 2 + 1] ?? -2);
        if (count >= LOGIN_MAX_FAILURES && ttl > 0) wait = Math.max(wait, ttl);
      }
      return wait;
    } catch (err) {
      this.redisFailed(err);
      const now = Date.now();
      let wait = 0;
      for (const key of keys) {
        const entry = this.local.get(key);
        if (entry && entry.until > now && entry.count >= LOGIN_MAX_FAILURES)
          wait = Math.max(wait, entry.until - now);
      }
      return wait;
    }
  }

  async recordFailure(username: string, ip: string): Promise<void> {
    const keys = this.keys(username, ip);
    try {
      const multi = this.redis.queueConnection().multi();
      // SET NX starts the window at the first failure; INCR keeps the expiry.
      for (const key of keys) multi.set(key, "0", "PX", LOGIN_WINDOW_MS, "NX").incr(key);
      const replies = await multi.exec();
      for (const [err] of replies ?? []) if (err) throw err;
    } catch (err) {
      this.redisFailed(err);
      const now = Date.now();
      for (const key of keys) {
        const entry = this.local.get(key);
        if (entry && entry.until > now) entry.count++;
        else this.local.set(key, { count: 1, until: now + LOGIN_WINDOW_MS });
      }
      if (this.local.size > 10_000)
        for (const [key, e] of this.local) if (e.until <= now) this.local.delete(key);
    }
  }

  /** A successful login clears its username's count (not the address's: one good password must not unlock a spray). */
  async recordSuccess(username: string): Promise<void> {
    const [userKey] = this.keys(username, "");
    this.local.delete(userKey);
    try {
      await this.redis.queueConnection().del(userKey);
    } catch (err) {
      this.redisFailed(err);
    }
  }

  private keys(username: string, ip: string): [string, string] {
    return [`ebb:login-failures:user:${sha256Hex(username.toLowerCase())}`, `ebb:login-failures:ip:${ip}`];
  }

  private redisFailed(err: unknown): void {
    this.logger.warn(
      `login throttle: Redis did not answer, counting in this process (${(err as Error).message})`,
    );
  }
}
