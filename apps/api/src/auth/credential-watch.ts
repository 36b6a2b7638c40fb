import { Inject, Injectable, Logger, type OnModuleDestroy } from "@nestjs/common";
import { DATABASE } from "../common/tokens.js";
import type { Database } from "../database/client.js";
import { principalStillValid } from "./credentials.js";
import type { Principal } from "./principal.js";

interface Watcher {
  principal: Principal;
  onInvalid: () => void;
}

/** What this process just ended: a token, a session, or everything of a user (disabled, deleted, demoted). */
export type Invalidation = { tokenId: string } | { sessionId: string } | { userId: string };

/**
 * Closes long-lived responses (event streams) whose credential stopped working. In this process the
 * services that revoke, log out, disable or delete call `invalidate()` and watchers fire at once. Another
 * API process's revocation is only in the database, so every watched credential is re-checked there every
 * `recheckIntervalMs` (also how a session or token reaching its expiry is noticed).
 *
 *   const unwatch = watch.watch(req.principal, () => subscriber.complete());
 *   signal.addEventListener("abort", unwatch);
 */
@Injectable()
export class CredentialWatch implements OnModuleDestroy {
  private readonly logger = new Logger("auth");
  @Inject(DATABASE) private readonly database!: Database;

  private intervalMs = 5000;

  /** How often watched credentials are re-checked in the database. Tests shorten it. */
  get recheckIntervalMs(): number {
    return this.intervalMs;
  }

  set recheckIntervalMs(ms: number) {
    this.intervalMs = ms;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.schedule();
  }

  private readonly watchers = new Set<Watcher>();
  private timer: NodeJS.Timeout | undefined;
  private checking = false;
  private destroyed = false;

  /** Calls `onInvalid` once when the credential behind `principal` stops working. Returns the unwatch. */
  watch(principal: Principal, onInvalid: () => void): () => void {
    if (principal.kind === "system") return () => {};
    const watcher: Watcher = { principal, onInvalid };
    this.watchers.add(watcher);
    this.schedule();
    return () => {
      this.watchers.delete(watcher);
    };
  }

  /** Fires (and removes) every watcher the change ends. Called after the change is committed. */
  invalidate(change: Invalidation): void {
    for (const watcher of [...this.watchers]) {
      if (matches(watcher.principal, change)) this.fire(watcher);
    }
  }

  /** How many streams are watched now (for tests and diagnostics). */
  get size(): number {
    return this.watchers.size;
  }

  /**
   * At shutdown every watched stream ends as if its credential had: Nest runs this before it closes the
   * HTTP server, which would otherwise wait for event streams that never end. Clients reconnect to
   * another API process.
   */
  onModuleDestroy(): void {
    this.destroyed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const watcher of [...this.watchers]) this.fire(watcher);
  }

  private schedule(): void {
    if (this.timer !== undefined || this.watchers.size === 0 || this.destroyed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.recheck().finally(() => this.schedule());
    }, this.intervalMs);
    // A watch must never keep a process alive that is otherwise done.
    this.timer.unref();
  }

  private async recheck(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      const now = new Date();
      // One query per credential, however many streams share it.
      const byCredential = new Map<string, Watcher[]>();
      for (const watcher of this.watchers) {
        const key = credentialKey(watcher.principal);
        byCredential.set(key, [...(byCredential.get(key) ?? []), watcher]);
      }
      for (const watchers of byCredential.values()) {
        const principal = watchers[0]!.principal;
        let valid: boolean;
        try {
          valid = await principalStillValid(this.database.prisma, principal, now);
        } catch (err) {
          // A database outage is not a revocation: keep the stream, check again next time.
          this.logger.debug(
            `re-checking ${principal.kind} ${principal.id} failed: ${(err as Error).message}`,
          );
          continue;
        }
        if (!valid) for (const watcher of watchers) this.fire(watcher);
      }
    } finally {
      this.checking = false;
    }
  }

  private fire(watcher: Watcher): void {
    if (!this.watchers.delete(watcher)) return;
    try {
      watcher.onInvalid();
    } catch (err) {
      this.logger.error(
        `closing a stream of ${watcher.principal.kind} ${watcher.principal.id} failed: ${(err as Error).message}`,
      );
    }
  }
}

function credentialKey(p: Principal): string {
  return `${p.kind}:${p.id}:${p.sessionId ?? ""}:${p.scope}`;
}

function matches(p: Principal, change: Invalidation): boolean {
  if ("tokenId" in change) return p.kind === "token" && p.id === change.tokenId;
  if ("sessionId" in change) return p.kind === "user" && p.sessionId === change.sessionId;
  return (p.kind === "user" && p.id === change.userId) || (p.kind === "token" && p.ownerId === change.userId);
}
