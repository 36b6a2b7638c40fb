import { type ApiErrorBody, apiErrorBodySchema } from "@ebb/contracts";
import { EbbError } from "@ebb/core";
import {
  Controller,
  Get,
  type INestApplication,
  type LoggerService,
  NotFoundException,
  Post,
  ServiceUnavailableException,
} from "@nestjs/common";
import { APP_FILTER, APP_PIPE } from "@nestjs/core";
import { Test } from "@nestjs/testing";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { ApiExceptionFilter } from "./exception.filter.js";
import { requestIdMiddleware } from "./request-id.js";
import { createValidationPipe } from "./validation.js";

const HOST = "127.0.7.20";

@Controller("boom")
class BoomController {
  @Get("ebb")
  ebb(): never {
    throw new EbbError("plan_invalid", "strategy.maxUnavailable: 5 is more than the fleet", {
      details: [{ field: "maxUnavailable" }],
    });
  }

  @Get("ebb-missing")
  missing(): never {
    throw new EbbError("not_found", 'fleet "nope" does not exist');
  }

  @Get("ebb-conflict")
  conflict(): never {
    throw new EbbError("conflict", "target vm-1 is leased by rollout 42");
  }

  @Get("ebb-balancer")
  balancer(): never {
    throw new EbbError(
      "balancer_unavailable",
      "L4 admin API at http://127.0.0.1:8081 refused the connection",
    );
  }

  @Get("ebb-internal")
  internal(): never {
    throw new EbbError("internal", "unhandled step type: teleport");
  }

  @Get("zod")
  zod(): never {
    z.object({ fleet: z.string(), batchSize: z.number() }).parse({ batchSize: "all" });
    throw new Error("unreachable");
  }

  @Get("unknown")
  unknown(): never {
    throw new TypeError("Cannot read properties of undefined (reading 'secretThing')");
  }

  @Get("not-found")
  notFound(): never {
    throw new NotFoundException("rollout 123 not found");
  }

  @Get("unavailable")
  unavailable(): never {
    throw new ServiceUnavailableException("the queue is not reachable");
  }

  /** Never reached with a malformed body: the JSON parser rejects it first. */
  @Post("echo")
  echo(): { ok: true } {
    return { ok: true };
  }
}

const logged: string[] = [];
const captureLogger: LoggerService = {
  log: () => {},
  warn: (message: unknown) => logged.push(`WARN ${String(message)}`),
  error: (message: unknown) => logged.push(`ERROR ${String(message)}`),
};

let app: INestApplication;
let base: string;

beforeAll(async () => {
  const moduleRef = await Test.createTestingModule({
    controllers: [BoomController],
    providers: [
      { provide: APP_FILTER, useClass: ApiExceptionFilter },
      { provide: APP_PIPE, useFactory: createValidationPipe },
    ],
  }).compile();
  app = moduleRef.createNestApplication({ logger: captureLogger });
  app.use(requestIdMiddleware);
  await app.listen(0, HOST);
  base = await app.getUrl();
});

afterAll(async () => {
  await app?.close();
});

beforeEach(() => {
  logged.length = 0;
});

async function call(
  path: string,
  init: RequestInit = {},
): Promise<{ status: number; body: ApiErrorBody; raw: string; requestId: string | null }> {
  const res = await fetch(`${base}${path}`, init);
  const raw = await res.text();
  return {
    status: res.status,
    body: apiErrorBodySchema.parse(JSON.parse(raw)),
    raw,
    requestId: res.headers.get("x-request-id"),
  };
}

describe("ApiExceptionFilter", () => {
  it("answers an EbbError with its code, message and details", async () => {
    const res = await call("/boom/ebb", { headers: { "x-request-id": "req-1" } });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      error: {
        code: "plan_invalid",
        message: "strategy.maxUnavailable: 5 is more than the fleet",
        details: [{ field: "maxUnavailable" }],
        requestId: "req-1",
      },
    });
    expect(res.requestId).toBe("req-1");
  });

  it.each([
    ["/boom/ebb-missing", 404, "not_found"],
    ["/boom/ebb-conflict", 409, "conflict"],
    ["/boom/ebb-balancer", 503, "balancer_unavailable"],
    ["/boom/not-found", 404, "not_found"],
    ["/boom/unavailable", 503, "unavailable"],
  ])("maps %s to %i %s", async (path, status, code) => {
    const res = await call(path);
    expect(res.status).toBe(status);
    expect(res.body.error.code).toBe(code);
  });

  it("answers a zod error with 400 and the fields that failed", async () => {
    const res = await call("/boom/zod");
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("invalid_request");
    const paths = (res.body.error.details as { path: string }[]).map((d) => d.path).sort();
    expect(paths).toEqual(["batchSize", "fleet"]);
    expect(res.body.error.message).toMatch(/fleet: .*batchSize: |batchSize: .*fleet: /);
  });

  it("answers an unknown error with a 500 and an error id, logging the stack but never returning it", async () => {
    const res = await call("/boom/unknown");
    expect(res.status).toBe(500);
    expect(res.body.error.code).toBe("internal");
    const { errorId } = res.body.error.details as { errorId: string };
    expect(errorId).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.body.error.message).toContain(errorId);
    expect(res.raw).not.toMatch(/secretThing|TypeError|at .*\.ts/);
    const line = logged.find((l) => l.startsWith("ERROR"));
    expect(line).toContain(errorId);
    expect(line).toContain("secretThing");
    expect(line).toMatch(/at .*exception\.filter\.test\.ts/);
  });

  it("treats EbbError internal like an unknown error", async () => {
    const res = await call("/boom/ebb-internal");
    expect(res.status).toBe(500);
    expect(res.raw).not.toContain("teleport");
    expect(logged.join("\n")).toContain("teleport");
  });

  it("generates a request id when none (or an unsafe one) is given", async () => {
    const res = await call("/boom/ebb", { headers: { "x-request-id": "bad id\twith spaces" } });
    expect(res.body.error.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.requestId).toBe(res.body.error.requestId);
  });

  it("answers malformed JSON with a 400 in the same shape", async () => {
    const res = await call("/boom/echo", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"fleet": "lab",',
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("bad_request");
    expect(res.body.error.message).toMatch(/malformed JSON/);
  });

  it("answers an unknown route in the same shape", async () => {
    const res = await call("/boom/nothing-here");
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe("not_found");
  });
});
