import type {
  AuditActorKind,
  AuditEventView,
  AuditFilter,
  AuditHead,
  AuditListQuery,
  AuditOutcome,
  AuditPage,
  AuditVerifyResult,
} from "@ebb/contracts";
import { AUDIT_TRANSITION_ACTIONS } from "@ebb/contracts";
import type { Db } from "../database/client.js";
import type { AuditEvent, Prisma, PrismaClient } from "../generated/prisma/client.js";
import { type ChainedFields, chainHash, GENESIS_HASH, type JsonObject } from "./chain.js";
import { cleanText, redactSummary, safeText } from "./redact.js";

/**
 * Key of the transaction-level advisory lock every appender takes ("ebbaudit" in ASCII). Fixed forever:
 * two versions of Ebb appending with different keys would fork the chain.
 */
export const AUDIT_LOCK_KEY = 7305509716269230452n;

export interface AuditActor {
  kind: AuditActorKind;
  id: string;
  name: string;
}

export const ANONYMOUS_ACTOR: AuditActor = { kind: "anonymous", id: "anonymous", name: "anonymous" };

/** One event to append. Strings are cleaned and the summary redacted on the way in. */
export interface AuditEventInput {
  /** Default: when it is appended. */
  at?: Date;
  actor: AuditActor;
  action: string;
  resourceType?: string | null;
  resourceId?: string | null;
  fleet?: string | null;
  summary?: Record<string, unknown>;
  outcome: AuditOutcome;
  httpStatus?: number | null;
  clientIp?: string | null;
  userAgent?: string | null;
  requestId?: string | null;
}

export interface AppendedAuditEvent {
  id: bigint;
  hash: string;
}

/**
 * Appends events to the chain. Inside a caller's transaction (`tx` from `prisma.$transaction`) the events
 * commit or roll back with the caller's writes; with the client, in a transaction of their own.
 *
 * Appenders serialise on a transaction-level advisory lock that is held until commit, so call this as the
 * last write before the caller's transaction commits: everyone else's audit events wait meanwhile. The
 * caller's transaction must be READ COMMITTED (Prisma's default), so the last row read after the lock is
 * the one the previous holder committed; under a stale snapshot the insert fails on the primary key
 * rather than forking the chain.
 */
export async function appendAuditEvents(
  db: Db,
  inputs: readonly AuditEventInput[],
): Promise<AppendedAuditEvent[]> {
  if (inputs.length === 0) return [];
  // Everything that does not depend on the chain is computed before the lock is taken.
  const prepared = inputs.map(prepareAuditEvent);
  if (isClient(db)) return db.$transaction((tx) => appendLocked(tx, prepared), { maxWait: 10_000 });
  return appendLocked(db, prepared);
}

export function appendAuditEvent(db: Db, input: AuditEventInput): Promise<AppendedAuditEvent> {
  return appendAuditEvents(db, [input]).then((appended) => appended[0]!);
}

/** An event as it will be stored: cleaned and redacted, not yet chained. Safe to log. */
export type PreparedAuditEvent = Omit<ChainedFields, "id" | "prevHash" | "at"> & { at: Date | undefined };
type Prepared = PreparedAuditEvent;

export function prepareAuditEvent(input: AuditEventInput): PreparedAuditEvent {
  return {
    at: input.at,
    actorKind: input.actor.kind,
    actorId: cleanText(input.actor.id),
    actorName: cleanText(input.actor.name),
    action: cleanText(input.action, 128),
    resourceType: nullableText(input.resourceType, 64),
    resourceId: safeText(input.resourceId, 256),
    fleet: nullableText(input.fleet, 128),
    summary: redactSummary(input.summary ?? {}),
    outcome: input.outcome,
    httpStatus: input.httpStatus ?? null,
    clientIp: nullableText(input.clientIp, 64),
    userAgent: safeText(input.userAgent, 256),
    requestId: nullableText(input.requestId, 128),
  };
}

async function appendLocked(
  tx: Prisma.TransactionClient,
  prepared: Prepared[],
): Promise<AppendedAuditEvent[]> {
  // A constant in the text, not a parameter: both adapters then agree on the bigint type.
  await tx.$executeRawUnsafe(`SELECT pg_advisory_xact_lock(${AUDIT_LOCK_KEY})`);
  // Raw SQL: every rollout transition appends here with the chain locked, and the query builder's
  // per-query work (two queries compiled each time) was most of the CPU spent holding the lock.
  // Ordered by the column, not the text alias (which would put 9 after 10).
  const [last] = await tx.$queryRaw<{ last_id: string; hash: string }[]>`
    SELECT id::text AS last_id, hash FROM audit_events ORDER BY id DESC LIMIT 1`;
  let id = last ? BigInt(last.last_id) : 0n;
  let prevHash = last?.hash ?? GENESIS_HASH;
  const now = new Date();
  const rows: Record<string, unknown>[] = [];
  const appended: AppendedAuditEvent[] = [];
  for (const event of prepared) {
    id += 1n;
    const at = event.at ?? now;
    const fields: ChainedFields = { ...event, id: id.toString(), at: at.toISOString(), prevHash };
    const hash = chainHash(fields);
    rows.push({ ...event, id: id.toString(), at: at.toISOString(), prevHash, hash });
    appended.push({ id, hash });
    prevHash = hash;
  }
  // A JSON null becomes an SQL null in jsonb_to_recordset; `at` keeps its milliseconds (ISO text).
  await tx.$executeRaw`
    INSERT INTO audit_events (id, at, actor_kind, actor_id, actor_name, action, resource_type, resource_id,
      fleet, summary, outcome, http_status, client_ip, user_agent, request_id, prev_hash, hash)
    SELECT id, at, "actorKind", "actorId", "actorName", action, "resourceType", "resourceId", fleet,
      summary, outcome, "httpStatus", "clientIp", "userAgent", "requestId", "prevHash", hash
    FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS v(id bigint, at timestamptz,
      "actorKind" text, "actorId" text, "actorName" text, action text, "resourceType" text,
      "resourceId" text, fleet text, summary jsonb, outcome text, "httpStatus" int, "clientIp" text,
      "userAgent" text, "requestId" text, "prevHash" text, hash text)`;
  return appended;
}

/**
 * A transaction client has `$transaction` too in Prisma 7 (nested transactions as savepoints, which the
 * PGlite adapter lacks); what it does not have is `$connect`.
 */
function isClient(db: Db): db is PrismaClient {
  return "$connect" in db;
}

function nullableText(value: string | null | undefined, max: number): string | null {
  return value === undefined || value === null ? null : cleanText(value, max);
}

/** The fields of a stored row as they were hashed. */
export function chainedFieldsOf(row: AuditEvent): ChainedFields {
  return {
    id: row.id.toString(),
    at: row.at.toISOString(),
    actorKind: row.actorKind as AuditActorKind,
    actorId: row.actorId,
    actorName: row.actorName,
    action: row.action,
    resourceType: row.resourceType,
    resourceId: row.resourceId,
    fleet: row.fleet,
    summary: jsonObject(row.summary),
    outcome: row.outcome as AuditOutcome,
    httpStatus: row.httpStatus,
    clientIp: row.clientIp,
    userAgent: row.userAgent,
    requestId: row.requestId,
    prevHash: row.prevHash,
  };
}

function jsonObject(value: Prisma.JsonValue): JsonObject {
  // Adapters hand jsonb back parsed; a string here would be a driver that did not.
  const parsed = typeof value === "string" ? (JSON.parse(value) as unknown) : value;
  return parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)
    ? (parsed as JsonObject)
    : {};
}

export function toView(row: AuditEvent): AuditEventView {
  return { ...chainedFieldsOf(row), hash: row.hash };
}

export class AuditCursorError extends Error {
  override readonly name = "AuditCursorError";
}

/** Opaque to clients so the paging key can change; today the id of the last event of the page. */
export function encodeCursor(id: bigint): string {
  return Buffer.from(`v1:${id}`, "utf8").toString("base64url");
}

export function decodeCursor(cursor: string): bigint {
  const match = /^v1:([1-9]\d{0,18})$/.exec(Buffer.from(cursor, "base64url").toString("utf8"));
  if (!match?.[1]) throw new AuditCursorError("cursor: not a cursor this API handed out");
  return BigInt(match[1]);
}

function whereOf(filter: AuditFilter): Prisma.AuditEventWhereInput {
  const and: Prisma.AuditEventWhereInput[] = [];
  if (filter.actor !== undefined) and.push({ OR: [{ actorId: filter.actor }, { actorName: filter.actor }] });
  if (filter.action !== undefined) {
    and.push(
      filter.action.endsWith("*")
        ? { action: { startsWith: filter.action.slice(0, -1) } }
        : { action: filter.action },
    );
  }
  if (filter.fleet !== undefined) and.push({ fleet: filter.fleet });
  if (filter.resourceType !== undefined) and.push({ resourceType: filter.resourceType });
  if (filter.resourceId !== undefined) and.push({ resourceId: filter.resourceId });
  if (filter.outcome !== undefined) and.push({ outcome: filter.outcome });
  if (filter.origin !== undefined) {
    const transitions = [...AUDIT_TRANSITION_ACTIONS];
    and.push({ action: filter.origin === "transition" ? { in: transitions } : { notIn: transitions } });
  }
  if (filter.since !== undefined) and.push({ at: { gte: new Date(filter.since) } });
  if (filter.until !== undefined) and.push({ at: { lt: new Date(filter.until) } });
  return { AND: and };
}

/** Newest first, keyset-paged on id. */
export async function listAuditEvents(db: Db, query: AuditListQuery): Promise<AuditPage> {
  const before = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
  const where = whereOf(query);
  const rows = await db.auditEvent.findMany({
    where: before === undefined ? where : { AND: [where, { id: { lt: before } }] },
    orderBy: { id: "desc" },
    take: query.limit + 1,
  });
  const items = rows.slice(0, query.limit);
  const more = rows.length > query.limit;
  return { items: items.map(toView), nextCursor: more ? encodeCursor(items.at(-1)!.id) : null };
}

/** Oldest first, one page in memory at a time: for NDJSON export of any size. */
export async function* exportAuditEvents(
  db: Db,
  filter: AuditFilter,
  pageSize = 500,
): AsyncGenerator<AuditEventView> {
  const where = whereOf(filter);
  let after = 0n;
  for (;;) {
    const rows = await db.auditEvent.findMany({
      where: { AND: [where, { id: { gt: after } }] },
      orderBy: { id: "asc" },
      take: pageSize,
    });
    for (const row of rows) yield toView(row);
    if (rows.length < pageSize) return;
    after = rows.at(-1)!.id;
  }
}

/** The newest event: its id and hash, to record outside Ebb and verify a later chain against. */
export async function auditHead(db: Db): Promise<AuditHead | null> {
  const row = await db.auditEvent.findFirst({
    orderBy: { id: "desc" },
    select: { id: true, hash: true, at: true },
  });
  return row ? { id: row.id.toString(), hash: row.hash, at: row.at.toISOString() } : null;
}

/** Where a walk starts: an event recorded earlier (a head export), by id and hash. */
export interface AuditAnchor {
  id: bigint;
  hash: string;
}

/**
 * Walks the chain in id order, a page at a time, and stops at the first event that does not hold: its id
 * does not follow the one before (gap: deleted events), its prev_hash is not the hash before it, or its
 * hash is not the hash of its fields (changed after it was written).
 *
 * Without an anchor the walk starts at the first event. With one (a head exported earlier), the anchor's
 * event must still be there, unchanged (its fields hash to the recorded hash), and the walk checks only
 * what follows it: cheap enough to run often, and it catches what a walk from the start cannot, a tail
 * cut off the end (the anchor's event is gone) or a chain rewritten and re-hashed up to its end (the
 * anchor's event hashes to something else now).
 */
export async function verifyAuditChain(
  db: Db,
  opts: { pageSize?: number; anchor?: AuditAnchor } = {},
): Promise<AuditVerifyResult> {
  const pageSize = opts.pageSize ?? 1000;
  const anchor = opts.anchor;
  let expectedId = 1n;
  let prevHash = GENESIS_HASH;
  let checked = 0;
  let last: AuditVerifyResult["last"] = null;
  const anchorView = anchor ? { id: anchor.id.toString(), hash: anchor.hash } : null;
  if (anchor) {
    const row = await db.auditEvent.findUnique({ where: { id: anchor.id } });
    if (!row) {
      const head = await auditHead(db);
      return {
        ok: false,
        checked,
        anchor: anchorView,
        firstBroken: {
          id: anchor.id.toString(),
          at: null,
          reason: "anchor_missing",
          message: `event ${anchor.id} (the anchor) is not there: the chain ${head ? `ends at event ${head.id}` : "is empty"}, so events from ${anchor.id} on were cut off or never written here`,
        },
        last: head ? { id: head.id, hash: head.hash } : null,
      };
    }
    checked += 1;
    const hash = chainHash(chainedFieldsOf(row));
    if (row.hash !== anchor.hash || hash !== anchor.hash) {
      return {
        ok: false,
        checked,
        anchor: anchorView,
        firstBroken: {
          id: row.id.toString(),
          at: row.at.toISOString(),
          reason: "anchor_mismatch",
          message:
            row.hash === hash
              ? `event ${row.id} hashes to ${hash.slice(0, 12)}…, the anchor says ${anchor.hash.slice(0, 12)}…: it is not the event that was recorded (the chain was rewritten and re-hashed, or the anchor belongs to another history)`
              : `event ${row.id} (the anchor) was changed after it was written: its fields hash to ${hash.slice(0, 12)}…, the anchor says ${anchor.hash.slice(0, 12)}…`,
        },
        last: null,
      };
    }
    expectedId = anchor.id + 1n;
    prevHash = anchor.hash;
    last = { id: row.id.toString(), hash: row.hash };
  }
  for (;;) {
    const rows = await db.auditEvent.findMany({
      where: { id: { gte: expectedId } },
      orderBy: { id: "asc" },
      take: pageSize,
    });
    for (const row of rows) {
      checked += 1;
      const broken = brokenLink(row, expectedId, prevHash);
      if (broken) {
        return {
          ok: false,
          checked,
          anchor: anchorView,
          firstBroken: { id: row.id.toString(), at: row.at.toISOString(), ...broken },
          last,
        };
      }
      expectedId = row.id + 1n;
      prevHash = row.hash;
      last = { id: row.id.toString(), hash: row.hash };
    }
    if (rows.length < pageSize) return { ok: true, checked, anchor: anchorView, firstBroken: null, last };
  }
}

function brokenLink(
  row: AuditEvent,
  expectedId: bigint,
  prevHash: string,
): { reason: "gap" | "prev_hash_mismatch" | "hash_mismatch"; message: string } | undefined {
  if (row.id !== expectedId) {
    const missing = row.id - expectedId;
    return {
      reason: "gap",
      message:
        missing === 1n
          ? `event ${expectedId} is missing before event ${row.id}`
          : `events ${expectedId} to ${row.id - 1n} (${missing}) are missing before event ${row.id}`,
    };
  }
  if (row.prevHash !== prevHash) {
    return {
      reason: "prev_hash_mismatch",
      message: `event ${row.id} carries prev_hash ${row.prevHash.slice(0, 12)}…, the event before it hashes to ${prevHash.slice(0, 12)}…`,
    };
  }
  const hash = chainHash(chainedFieldsOf(row));
  if (hash !== row.hash) {
    return {
      reason: "hash_mismatch",
      message: `event ${row.id} was changed after it was written: its fields hash to ${hash.slice(0, 12)}…, the row says ${row.hash.slice(0, 12)}…`,
    };
  }
  return undefined;
}
