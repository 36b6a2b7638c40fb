import { createRolloutBodySchema } from "@ebb/contracts";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { mapError } from "./error-mapping.js";
import { createValidationPipe, RequestValidationError } from "./validation.js";

// What Nest hands the pipe for `@Body({ schema: createRolloutBodySchema })`.
const bodyMetadata = {
  type: "body" as const,
  metatype: undefined,
  data: undefined,
  schema: createRolloutBodySchema,
};

describe("the global validation pipe", () => {
  it("returns the parsed value, defaults applied", async () => {
    await expect(
      createValidationPipe().transform(
        { fleet: "lab", version: "2.0.0", maxUnavailable: "25%" },
        bodyMetadata,
      ),
    ).resolves.toEqual({
      fleet: "lab",
      version: "2.0.0",
      maxUnavailable: "25%",
    });
  });

  it("rejects with a RequestValidationError naming each field, answered as 400 invalid_request", async () => {
    const err = await createValidationPipe()
      .transform({ fleet: "lab", version: "not ok!", batchSize: "many", params: { N: 3 } }, bodyMetadata)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RequestValidationError);
    const mapped = mapError(err);
    expect(mapped).toMatchObject({ status: 400, code: "invalid_request" });
    expect((mapped.details as { path: string }[]).map((d) => d.path).sort()).toEqual([
      "batchSize",
      "params.N",
      "version",
    ]);
    expect(mapped.message).toMatch(/^invalid request: .*version: /);
  });

  it("leaves parameters without a schema alone", async () => {
    const raw = { anything: true };
    await expect(
      createValidationPipe().transform(raw, { type: "query", metatype: undefined, data: undefined }),
    ).resolves.toBe(raw);
  });
});

describe("mapError", () => {
  it("maps a zod error thrown anywhere to 400 with the field paths", () => {
    const parsed = z.object({ a: z.object({ b: z.number() }) }).safeParse({ a: { b: "x" } });
    expect(mapError(parsed.error)).toMatchObject({
      status: 400,
      code: "invalid_request",
      details: [{ path: "a.b", message: expect.any(String) }],
    });
  });
});
