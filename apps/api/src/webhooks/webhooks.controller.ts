import {
  type CreateWebhookBody,
  createWebhookBodySchema,
  type WebhookDeliveryView,
  type WebhookView,
  webhookDeliveriesQuerySchema,
  webhookDeliveryViewSchema,
  webhookViewSchema,
} from "@ebb/contracts";
import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Inject,
  Param,
  ParseUUIDPipe,
  Post,
  Query,
  Req,
} from "@nestjs/common";
import { ApiBody, ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from "@nestjs/swagger";
import type { z } from "zod";
import { Access } from "../auth/access.js";
import type { AuthenticatedRequest } from "../auth/principal.js";
import { openApiSchema } from "../common/openapi.js";
import { WebhooksService } from "./webhooks.service.js";

/**
 * /api/v1/webhooks: admin only, reads included: a webhook's URL may itself be a credential (Slack's
 * incoming-webhook URLs are). Creates and deletes land in the audit history like every mutating request.
 */
@ApiTags("webhooks")
@Controller("webhooks")
@Access("admin")
export class WebhooksController {
  @Inject(WebhooksService) private readonly webhooks!: WebhooksService;

  @Get()
  @ApiOperation({ summary: "List webhooks (never their secret or its reference)" })
  @ApiOkResponse({ schema: openApiSchema(webhookViewSchema.array()) })
  list(): Promise<WebhookView[]> {
    return this.webhooks.list();
  }

  @Post()
  @HttpCode(201)
  @ApiOperation({
    summary:
      'Create a webhook: deliveries are POSTed with `Ebb-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">` (docs/webhooks.md)',
  })
  @ApiBody({ schema: openApiSchema(createWebhookBodySchema, "input") })
  @ApiCreatedResponse({ schema: openApiSchema(webhookViewSchema) })
  create(
    @Body({ schema: createWebhookBodySchema }) body: CreateWebhookBody,
    @Req() req: AuthenticatedRequest,
  ): Promise<WebhookView> {
    return this.webhooks.create(body, req.principal);
  }

  @Delete(":id")
  @HttpCode(204)
  @ApiOperation({ summary: "Delete a webhook and its delivery history" })
  delete(@Param("id", ParseUUIDPipe) id: string): Promise<void> {
    return this.webhooks.delete(id);
  }

  @Get(":id/deliveries")
  @ApiOperation({ summary: "A webhook's deliveries, newest first: status, attempts, last answer or error" })
  @ApiOkResponse({ schema: openApiSchema(webhookDeliveryViewSchema.array()) })
  deliveries(
    @Param("id", ParseUUIDPipe) id: string,
    @Query({ schema: webhookDeliveriesQuerySchema }) query: z.output<typeof webhookDeliveriesQuerySchema>,
  ): Promise<WebhookDeliveryView[]> {
    return this.webhooks.deliveries(id, query.limit);
  }
}
