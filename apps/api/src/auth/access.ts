import { SetMetadata } from "@nestjs/common";
import type { Scope } from "./principal.js";

/** "public": no credentials needed (login, liveness). Anything else: the least scope the caller needs. */
export type AccessLevel = Scope | "public";

export const ACCESS_METADATA = "ebb:access";

/**
 * Every route declares who may call it; the global auth guard refuses a route without a declaration
 * (deny by default), and a test walks every route to find one.
 */
export const Access = (level: AccessLevel) => SetMetadata(ACCESS_METADATA, level);

/**
 * Routes served around Nest's controllers (straight on Express), where no guard runs, each with the
 * reason that is the right decision. The route walk test fails on any other such route. A prefix covers
 * the path itself and everything under it, and paths that continue it (`/api/docs-json`).
 */
export const UNGUARDED_ROUTES: readonly {
  readonly prefix: string;
  readonly access: "public";
  readonly why: string;
}[] = [
  {
    // DOCS_PATH of common/openapi.ts.
    prefix: "/api/docs",
    access: "public",
    why: "the OpenAPI document and its UI describe the API (as the defaults table promises); they hold no data",
  },
];
