import type { FieldIssue } from "@ebb/contracts";
import { StandardSchemaValidationPipe } from "@nestjs/common";
import type { z } from "zod";

/** The shape of a Standard Schema issue (zod, valibot, ...), without depending on the spec package. */
interface SchemaIssue {
  readonly message: string;
  readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined;
}

export function toFieldIssues(issues: readonly SchemaIssue[]): FieldIssue[] {
  return issues.map((issue) => ({
    path: (issue.path ?? []).map((p) => String(typeof p === "object" ? p.key : p)).join("."),
    message: issue.message,
  }));
}

/** A request's body, query or params did not match its schema. Answered as 400 `invalid_request`. */
export class RequestValidationError extends Error {
  override readonly name = "RequestValidationError";
  constructor(
    readonly issues: readonly FieldIssue[],
    options?: { cause?: unknown },
  ) {
    super(
      `invalid request: ${issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join("; ")}`,
      options,
    );
  }

  static fromZod(error: z.core.$ZodError): RequestValidationError {
    return new RequestValidationError(toFieldIssues(error.issues), { cause: error });
  }
}

/**
 * The global pipe: a controller declares `@Body({ schema: createRolloutBodySchema })` (a zod schema from
 * @ebb/contracts) and receives the parsed value, or the caller gets a 400 naming each bad field.
 */
export function createValidationPipe(): StandardSchemaValidationPipe {
  return new StandardSchemaValidationPipe({
    exceptionFactory: (issues) => new RequestValidationError(toFieldIssues(issues)),
  });
}
