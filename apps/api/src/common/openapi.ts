import type { INestApplication } from "@nestjs/common";
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from "@nestjs/swagger";
import { z } from "zod";

export const DOCS_PATH = "api/docs";

/**
 * A zod schema of @ebb/contracts as an OpenAPI schema object, for `@ApiBody({ schema: openApiSchema(x) })`
 * and responses: the document describes the same shapes the API validates with, not a hand-kept copy.
 */
export function openApiSchema(schema: z.ZodType, io: "input" | "output" = "output"): Record<string, unknown> {
  const json = z.toJSONSchema(schema, { target: "openapi-3.0", io, unrepresentable: "any" }) as Record<
    string,
    unknown
  >;
  delete json.$schema;
  return json;
}

/**
 * The OpenAPI document, generated from the controllers at start (paths, parameters, the contracts'
 * schemas), served as JSON at /api/docs-json and browsable at /api/docs. The UI's assets come from the
 * swagger-ui-dist package on disk: nothing is fetched from a CDN.
 */
export function serveOpenApi(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle("Ebb API")
    .setDescription(
      "Runbook-driven rollouts behind load balancers. Authenticate with `Authorization: Bearer <token>` " +
        "(API tokens, scopes read < deploy < admin) or the dashboard's session cookie plus `X-CSRF-Token` on " +
        "state-changing requests. Errors: `{ error: { code, message, details, requestId } }`.",
    )
    .setVersion("1")
    .addBearerAuth()
    .addCookieAuth("ebb_session")
    .addSecurityRequirements("bearer")
    .build();
  const document = SwaggerModule.createDocument(app, config);
  SwaggerModule.setup(DOCS_PATH, app, document, { jsonDocumentUrl: `${DOCS_PATH}-json` });
  return document;
}
