import type { WebhookDeliveryView, WebhookEventName, WebhookView } from "@ebb/contracts";
import type { RolloutState, WebhookEvent, WebhookFormat, WebhookPayload } from "@ebb/core";
import type { Db } from "../database/client.js";
import type { Prisma } from "../generated/prisma/client.js";

export interface NewWebhook {
  name: string;
  url: string;
  fleetId: string | null;
  events: readonly WebhookEvent[];
  format: "json" | "slack";
  secretRef: string | null;
  createdBy: string | null;
}

/** A delivery with what sending it needs; the secret only as its reference. */
export interface DeliveryToSend {
  id: string;
  status: string;
  attempts: number;
  payload: WebhookPayload;
  webhook: { url: string; format: "json" | "slack"; secretRef: string | null };
}

/** The rollout a notification is about, read after the transition committed. */
export interface RolloutSubject {
  fleetId: string;
  fleet: string;
  version: string;
  runbook: string;
  status: string;
  state: RolloutState;
}

const webhookSelect = {
  id: true,
  name: true,
  url: true,
  events: true,
  format: true,
  secretRef: true,
  createdBy: true,
  createdAt: true,
  fleet: { select: { name: true } },
} satisfies Prisma.WebhookSelect;
type WebhookRow = Prisma.WebhookGetPayload<{ select: typeof webhookSelect }>;

/** The webhooks feature's queries (Prisma); rows become the contracts' views here. */
export class WebhooksRepository {
  constructor(private readonly db: Db) {}

  async list(): Promise<WebhookView[]> {
    const rows = await this.db.webhook.findMany({ select: webhookSelect, orderBy: { createdAt: "asc" } });
    return rows.map(webhookView);
  }

  async fleetId(name: string): Promise<string | undefined> {
    return (await this.db.fleet.findUnique({ where: { name }, select: { id: true } }))?.id;
  }

  async create(hook: NewWebhook): Promise<WebhookView> {
    const row = await this.db.webhook.create({
      data: { ...hook, events: [...hook.events] },
      select: webhookSelect,
    });
    return webhookView(row);
  }

  /** False when there was none. Its deliveries go with it (ON DELETE CASCADE). */
  async delete(id: string): Promise<boolean> {
    return (await this.db.webhook.deleteMany({ where: { id } })).count === 1;
  }

  async exists(id: string): Promise<boolean> {
    return (await this.db.webhook.count({ where: { id } })) === 1;
  }

  async deliveries(webhookId: string, limit: number): Promise<WebhookDeliveryView[]> {
    const rows = await this.db.webhookDelivery.findMany({
      where: { webhookId },
      orderBy: [{ createdAt: "desc" }, { id: "desc" }],
      take: limit,
    });
    return rows.map((d) => ({
      id: d.id,
      webhookId: d.webhookId,
      event: d.event as WebhookDeliveryView["event"],
      rolloutId: d.rolloutId,
      status: d.status as WebhookDeliveryView["status"],
      attempts: d.attempts,
      responseStatus: d.responseStatus,
      lastError: d.lastError,
      createdAt: d.createdAt.toISOString(),
      lastAttemptAt: d.lastAttemptAt?.toISOString() ?? null,
      finishedAt: d.finishedAt?.toISOString() ?? null,
      payload: d.payload as Record<string, unknown>,
    }));
  }

  // ---- the notifier and the delivery worker ----

  async subject(rolloutId: string): Promise<RolloutSubject | undefined> {
    const row = await this.db.rollout.findUnique({
      where: { id: rolloutId },
      select: {
        fleetId: true,
        version: true,
        status: true,
        state: true,
        fleet: { select: { name: true } },
        runbookVersion: { select: { name: true } },
      },
    });
    if (!row) return undefined;
    return {
      fleetId: row.fleetId,
      fleet: row.fleet.name,
      version: row.version,
      runbook: row.runbookVersion.name,
      status: row.status,
      state: row.state as unknown as RolloutState,
    };
  }

  async fleetOfRollout(rolloutId: string): Promise<string | undefined> {
    return (await this.db.rollout.findUnique({ where: { id: rolloutId }, select: { fleetId: true } }))
      ?.fleetId;
  }

  /** The webhooks of this fleet (or of every fleet) that subscribe to any of `events`. */
  async subscribers(
    fleetId: string,
    events: readonly WebhookEvent[],
  ): Promise<{ id: string; events: string[] }[]> {
    return this.db.webhook.findMany({
      where: { OR: [{ fleetId: null }, { fleetId }], events: { hasSome: [...events] } },
      select: { id: true, events: true },
    });
  }

  async insertDeliveries(
    rows: readonly {
      id: string;
      webhookId: string;
      event: WebhookEvent;
      rolloutId: string;
      payload: WebhookPayload;
    }[],
  ): Promise<void> {
    if (rows.length === 0) return;
    await this.db.webhookDelivery.createMany({
      data: rows.map((r) => ({ ...r, payload: r.payload as unknown as Prisma.InputJsonValue })),
    });
  }

  async toSend(id: string): Promise<DeliveryToSend | undefined> {
    const row = await this.db.webhookDelivery.findUnique({
      where: { id },
      select: {
        id: true,
        status: true,
        attempts: true,
        payload: true,
        webhook: { select: { url: true, format: true, secretRef: true } },
      },
    });
    if (!row) return undefined;
    return {
      ...row,
      payload: row.payload as unknown as WebhookPayload,
      webhook: { ...row.webhook, format: row.webhook.format as "json" | "slack" },
    };
  }

  /** One try and its outcome; `final` closes the delivery (delivered, or failed after the last try). */
  async recordAttempt(
    id: string,
    outcome: {
      at: Date;
      status: "pending" | "delivered" | "failed";
      responseStatus: number | null;
      /** Undefined: keep the previous try's error (a delivery that got through at its third try shows why the first two did not). */
      error: string | undefined;
    },
  ): Promise<void> {
    await this.db.webhookDelivery.updateMany({
      where: { id },
      data: {
        attempts: { increment: 1 },
        lastAttemptAt: outcome.at,
        status: outcome.status,
        responseStatus: outcome.responseStatus,
        ...(outcome.error === undefined ? {} : { lastError: outcome.error }),
        ...(outcome.status === "pending" ? {} : { finishedAt: outcome.at }),
      },
    });
  }

  /** Deliveries still to make, oldest first: re-queued when Redis lost their jobs. */
  async pendingIds(limit: number): Promise<string[]> {
    const rows = await this.db.webhookDelivery.findMany({
      where: { status: "pending" },
      orderBy: { createdAt: "asc" },
      take: limit,
      select: { id: true },
    });
    return rows.map((r) => r.id);
  }
}

function webhookView(row: WebhookRow): WebhookView {
  return {
    id: row.id,
    name: row.name,
    url: row.url,
    fleet: row.fleet?.name ?? null,
    events: row.events as WebhookView["events"],
    format: row.format as WebhookView["format"],
    signed: row.secretRef !== null,
    createdBy: row.createdBy,
    createdAt: row.createdAt.toISOString(),
  };
}

// The API's event and format names are the domain's: a name added on one side only fails the type check.
type Missing = Exclude<WebhookEvent, WebhookEventName> | Exclude<WebhookFormat, WebhookView["format"]>;
type Extra = Exclude<WebhookEventName, WebhookEvent> | Exclude<WebhookView["format"], WebhookFormat>;
export const WEBHOOK_NAMES_MATCH: [Missing, Extra] extends [never, never] ? true : never = true;
