import { Inject, Injectable, Logger } from "@nestjs/common";
import { REDIS_CONNECTION } from "../common/tokens.js";
import type { RedisConnections } from "../redis/connections.js";
import { sha256Hex } from "./secrets.js";

export const LOGIN_MAX_FAILURES = 5;
export const LOGIN_WINDOW_MS = 15 * 60 * 1000;

/**
 * Counts login attempts in Redis (so every API process sees the same counts) under two keys:
 * - (username, client address): the guesses one client makes at one account. After LOGIN_MAX_FAILURES
 *   within LOGIN_WINDOW_MS that pair gets 429. Keyed on the pair, not on the username alone, so an
 *   attacker who hammers `admin` locks out only themselves, never the owner logging in from elsewhere.
 * - client address alone: a client spraying many usernames is stopped after as many failures.
 * An attempt is counted *before* its password is checked (INCR, then compare) and uncounted when it
 * succeeds: a burst of N parallel guesses gets LOGIN_MAX_FAILURES answers, not N. Usernames are hashed in
 * the key: a password typed into the username field must not land in Redis. When Redis does not answer,
 * the process counts on its own rather than letting logins through unthrottled (or failing them all).
 * The client address is the real client's under EBB_TRUST_PROXY (see common/client-address.ts).
 */
@Injectable()
export class LoginThrottle {
  private readonly logger = new Logger("auth");
  @Inject(REDIS_CONNECTION) private readonly redis!: RedisConnections;
  private readonly local = new Map<string, { count: number; until: number }>();

  /**
   * Counts this attempt. Returns 0 when the password may be checked now, else the milliseconds until
   * this account may be tried again from this client.
   */
  async begin(username: string, client: string): Promise<number> {
    const keys = this.keys(username, client);
    let counts: { count: number; ttl: number }[];
    try {
      const multi = this.redis.queueConnection().multi();
      // SET NX starts the window at the first attempt; INCR keeps the expiry.
      for (const key of keys) multi.set(key, "0", "PX", LOGIN_WINDOW_MS, "NX").incr(key).pttl(key);
      const replies = (await multi.exec()) ?? [];
      const values = replies.map(([err, value]) => {
        if (err) throw err;
        return value;
      });
      counts = keys.map((_, i) => ({ count: Number(values[i * 3 + 1]), ttl: Number(values[i * 3 + 2]) }));
    } catch (err) {
      this.redisFailed(err);
      const now = Date.now();
      counts = keys.map((key) => {
        let entry = this.local.get(key);
        if (!entry || entry.until <= now) {
          entry = { count: 0, until: now + LOGIN_WINDOW_MS };
          this.local.set(key, entry);
        }
        entry.count++;
        return { count: entry.count, ttl: entry.until - now };
      });
      if (this.local.size > 10_000)
        for (const [key, e] of this.local) if (e.until <= now) this.local.delete(key);
    }
    let wait = 0;
    for (const { count, ttl } of counts)
      if (count > LOGIN_MAX_FAILURES) wait = Math.max(wait, ttl > 0 ? ttl : LOGIN_WINDOW_MS);
    return wait;
  }

  /**
   * The password was right: the pair's count starts over, and this attempt no longer counts against the
   * client (the client's earlier failures still do: one good password must not unlock a spray).
   */
  async succeeded(username: string, client: string): Promise<void> {
    const [pairKey, clientKey] = this.keys(username, client);
    this.local.delete(pairKey);
    const entry = this.local.get(clientKey);
    if (entry && entry.count > 0) entry.count--;
    try {
      const replies = await this.redis.queueConnection().multi().del(pairKey).decr(clientKey).exec();
      for (const [err] of replies ?? []) if (err) throw err;
    } catch (err) {
      this.redisFailed(err);
    }
  }

  private keys(username: string, client: string): [string, string] {
    return [
      `ebb:login-attempts:pair:${sha256Hex(`${username.toLowerCase()}\n${client}`)}`,
      `ebb:login-attempts:client:${client}`,
    ];
  }

  private redisFailed(err: unknown): void {
    this.logger.warn(
      `login throttle: Redis did not answer, counting in this process (${(err as Error).message})`,
    );
  }
}
