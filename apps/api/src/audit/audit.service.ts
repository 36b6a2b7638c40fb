import { setTimeout as delay } from "node:timers/promises";
import type {
  AuditEventView,
  AuditFilter,
  AuditHead,
  AuditListQuery,
  AuditPage,
  AuditVerifyResult,
} from "@ebb/contracts";
import { EbbError } from "@ebb/core";
import { Inject, Injectable, Logger, type OnApplicationShutdown } from "@nestjs/common";
import { RateLimiter } from "../common/rate-limit.js";
import { DATABASE } from "../common/tokens.js";
import type { Database, Db } from "../database/client.js";
import {
  type AppendedAuditEvent,
  type AuditAnchor,
  type AuditEventInput,
  appendAuditEvent,
  auditHead,
  exportAuditEvents,
  listAuditEvents,
  prepareAuditEvent,
  verifyAuditChain,
} from "./audit-store.js";

/** Attempts of a background write; the delays between them let a database fail-over or a lock clear. */
const WRITE_ATTEMPTS = 3;
const RETRY_DELAY_MS = 100;

/**
 * The audit history for Nest code: append in a transaction of your own (`append(input, tx)`), or record
 * in the background after a response (`recordLater`). Queries for the controller.
 */
/** Full walks of the audit chain a process starts in a minute (see AuditService.verify). */
export const VERIFY_WALKS_PER_MINUTE = 12;

@Injectable()
export class AuditService implements OnApplicationShutdown {
  @Inject(DATABASE) private readonly db!: Database;
  private readonly logger = new Logger("audit");
  private readonly writing = new Set<Promise<void>>();
  /** Background writes: written, and failed after every attempt (each failure is in the error log with its event). */
  readonly counters = { written: 0, failed: 0 };

  /** Appends in `tx` when given (commits with the caller's writes), else in a transaction of its own. */
  append(input: AuditEventInput, tx?: Db): Promise<AppendedAuditEvent> {
    return appendAuditEvent(tx ?? this.db.prisma, input);
  }

  /**
   * Writes an event in the background: the caller (a finished HTTP response) neither waits for nor fails
   * with it. A write that fails is retried, then logged as an error with the event itself (redacted), so
   * an event is never silently lost.
   */
  recordLater(build: () => AuditEventInput | Promise<AuditEventInput>): void {
    const task = this.write(build).finally(() => this.writing.delete(task));
    this.writing.add(task);
  }

  /** Background writes under way (waiting for their handler, being written, or between attempts). */
  get pendingWrites(): number {
    return this.writing.size;
  }

  /** Resolves once every background write started so far has finished (written or logged as failed). */
  async idle(): Promise<void> {
    while (this.writing.size > 0) await Promise.allSettled([...this.writing]);
  }

  list(query: AuditListQuery): Promise<AuditPage> {
    return listAuditEvents(this.db.prisma, query);
  }

  export(filter: AuditFilter): AsyncGenerator<AuditEventView> {
    return exportAuditEvents(this.db.prisma, filter);
  }

  /**
   * A full walk of the chain reads every row: a reader asking in a loop would keep the database busy.
   * Callers that ask for the same walk (same anchor, or none) while it runs share it; at most
   * VERIFY_WALKS_PER_MINUTE walks, anchored or not, start a minute in this process, and the next caller
   * gets 429 with the seconds to wait.
   */
  verify(anchor?: AuditAnchor): Promise<AuditVerifyResult> {
    const key = anchor ? `${anchor.id}:${anchor.hash}` : "";
    const running = this.verifying.get(key);
    if (running) return running;
    const wait = this.verifyWalks.check("verify", VERIFY_WALKS_PER_MINUTE);
    if (wait !== undefined) {
      const seconds = Math.max(1, Math.ceil(wait / 1000));
      return Promise.reject(
        new EbbError(
          "too_many_requests",
          `the audit chain was verified ${VERIFY_WALKS_PER_MINUTE} times in the last minute; try again in ${seconds} s`,
          {
            details: { retryAfterSeconds: seconds },
          },
        ),
      );
    }
    this.verifyWalks.record("verify");
    const walk = verifyAuditChain(this.db.prisma, anchor ? { anchor } : {}).finally(() => {
      this.verifying.delete(key);
    });
    this.verifying.set(key, walk);
    return walk;
  }

  /** The newest event (id, hash, time), or null while the history is empty. */
  head(): Promise<AuditHead | null> {
    return auditHead(this.db.prisma);
  }

  /** Walks under way, by anchor ("" for a walk from the first event). */
  private readonly verifying = new Map<string, Promise<AuditVerifyResult>>();
  private readonly verifyWalks = new RateLimiter(60_000);

  /** The rollout's fleet, for events about a rollout whose request did not name it. */
  async fleetOfRollout(rolloutId: string): Promise<string | null> {
    const row = await this.db.prisma.rollout.findUnique({
      where: { id: rolloutId },
      select: { fleet: { select: { name: true } } },
    });
    return row?.fleet.name ?? null;
  }

  /** HTTP is closed by now (Nest closes it before this hook), so no new event can start: write the last ones. */
  async onApplicationShutdown(): Promise<void> {
    await this.idle();
  }

  private async write(build: () => AuditEventInput | Promise<AuditEventInput>): Promise<void> {
    let input: AuditEventInput;
    try {
      input = await build();
    } catch (err) {
      this.counters.failed += 1;
      this.logger.error(`audit event not recorded: describing it failed: ${stackOf(err)}`);
      return;
    }
    for (let attempt = 1; ; attempt += 1) {
      try {
        await appendAuditEvent(this.db.prisma, input);
        this.counters.written += 1;
        return;
      } catch (err) {
        if (attempt >= WRITE_ATTEMPTS) {
          this.counters.failed += 1;
          this.logger.error(
            `audit event not written after ${attempt} attempts (${messageOf(err)}); the event: ` +
              JSON.stringify({ ...prepareAuditEvent(input), at: (input.at ?? new Date()).toISOString() }),
          );
          return;
        }
        await delay(RETRY_DELAY_MS * 4 ** (attempt - 1));
      }
    }
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function stackOf(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}
