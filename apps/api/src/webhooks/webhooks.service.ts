import {
  type CreateWebhookBody,
  WEBHOOK_EVENT_NAMES,
  type WebhookDeliveryView,
  type WebhookView,
} from "@ebb/contracts";
import { EbbError } from "@ebb/core";
import { Inject, Injectable } from "@nestjs/common";
import type { Principal } from "../auth/principal.js";
import { DATABASE } from "../common/tokens.js";
import { RequestValidationError } from "../common/validation.js";
import type { Database } from "../database/client.js";
import { WebhooksRepository } from "./webhooks.repository.js";

/** Thin: requests in, the repository out. The secret reference is stored, never returned. */
@Injectable()
export class WebhooksService {
  @Inject(DATABASE) private readonly database!: Database;

  private get repository(): WebhooksRepository {
    return new WebhooksRepository(this.database.prisma);
  }

  list(): Promise<WebhookView[]> {
    return this.repository.list();
  }

  async create(body: CreateWebhookBody, principal: Principal | undefined): Promise<WebhookView> {
    let fleetId: string | null = null;
    if (body.fleet !== undefined) {
      const id = await this.repository.fleetId(body.fleet);
      if (id === undefined)
        throw new RequestValidationError([{ path: "fleet", message: `no fleet named "${body.fleet}"` }]);
      fleetId = id;
    }
    return this.repository.create({
      name: body.name,
      url: body.url,
      fleetId,
      events: body.events ?? WEBHOOK_EVENT_NAMES,
      format: body.format,
      secretRef: body.secret ?? null,
      createdBy: principal?.name ?? null,
    });
  }

  async delete(id: string): Promise<void> {
    if (!(await this.repository.delete(id))) throw new EbbError("not_found", `webhook ${id} does not exist`);
  }

  async deliveries(id: string, limit: number): Promise<WebhookDeliveryView[]> {
    const repository = this.repository;
    if (!(await repository.exists(id))) throw new EbbError("not_found", `webhook ${id} does not exist`);
    return repository.deliveries(id, limit);
  }
}
