import { vmStatus } from "@ebb/lab";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { givenEbb, type RunningEbb } from "../support/ebb.js";
import {
  type ApiErrorBody,
  command,
  createRollout,
  type Lab,
  request,
  targetOf,
  untilTerminal,
} from "../support/rollouts.js";
import { givenLab } from "../support/world.js";

// What POST /rollouts does with bad input (nothing: no row, no lease, an error naming the field) and with
// retried requests (an Idempotency-Key creates one rollout, however many times and however concurrently
// it is sent).

let lab: Lab | undefined;
let ebb: RunningEbb | undefined;

beforeAll(async () => {
  lab = await givenLab(28, { vms: 2 });
  // PostgreSQL: the idempotency race is about real concurrent transactions.
  ebb = await givenEbb(lab, 28, {}, { database: "postgres" });
});

afterAll(async () => {
  await ebb?.cleanup();
  await lab?.cleanup();
});

// Each case starts from an empty rollouts table: the cases that create a rollout abort it and wait until
// it is over (nothing left drained), and the table is emptied for the next one. Leases go explicitly: an
// abort leaves those of never-started targets behind (see abort.test.ts).
afterEach(async () => {
  await ebb!.prisma.lease.deleteMany();
  await ebb!.prisma.rollout.deleteMany();
});

interface BadInput {
  what: string;
  body?: unknown;
  raw?: string;
  status: number;
  code: string;
  /** What the message must name. */
  names: RegExp;
  /** The field `details` must point at, when the error is about one field. */
  field?: string;
}

const VALID = { fleet: "lab", version: "2.0.0", runbook: "l4-drain" };

const BAD_INPUTS: BadInput[] = [
  {
    what: "an unknown fleet",
    body: { ...VALID, fleet: "nope" },
    status: 404,
    code: "not_found",
    names: /fleet "nope"/,
    field: "fleet",
  },
  {
    what: "an unknown runbook",
    body: { ...VALID, runbook: "nope" },
    status: 404,
    code: "not_found",
    names: /runbook "nope"/,
    field: "runbook",
  },
  {
    what: "a version string with shell text in it",
    body: { ...VALID, version: "1.2.3; rm -rf /" },
    status: 400,
    code: "invalid_request",
    names: /\bversion\b/,
    field: "version",
  },
  {
    what: "a parameter the runbook does not declare",
    body: { ...VALID, params: { x: "1" } },
    status: 400,
    code: "param_invalid",
    names: /params\.x\b/,
  },
  {
    what: "malformed JSON",
    raw: '{"fleet": "lab", "version": ',
    status: 400,
    code: "bad_request",
    names: /JSON/,
  },
  {
    what: "an unknown body field",
    body: { ...VALID, batchsize: 2 },
    status: 400,
    code: "invalid_request",
    names: /batchsize/,
  },
];

describe("POST /rollouts with bad input creates nothing", () => {
  it.each(BAD_INPUTS)("$what: $status $code naming it", async (c) => {
    // Given Ebb with the lab fleet and no rollout
    const e = ebb!;
    expect(await e.prisma.rollout.count()).toBe(0);

    // When a client sends the bad request
    const res = await request<ApiErrorBody>(e, "POST", "/rollouts", {
      ...(c.raw === undefined ? { body: c.body } : { raw: c.raw }),
    });

    // Then it is refused with the API's error shape, naming what is wrong
    expect(res.status, JSON.stringify(res.body)).toBe(c.status);
    expect(res.body.error).toMatchObject({ code: c.code, requestId: expect.any(String) });
    expect(res.body.error.requestId).not.toBe("");
    expect(res.body.error.message).toMatch(c.names);
    if (c.field !== undefined) expect(JSON.stringify(res.body.error.details)).toContain(`"${c.field}"`);
    // and nothing was written or run: no rollout, no lease, no VM touched
    expect(await e.prisma.rollout.count()).toBe(0);
    expect(await e.prisma.targetRun.count()).toBe(0);
    expect(await e.prisma.lease.count()).toBe(0);
    for (const v of lab!.vms) {
      expect(await vmStatus(v.dir)).toMatchObject({
        running: true,
        version: "1.0.0",
        healthCheckPresent: true,
      });
    }
  });

  it("a valid request after all that is accepted: the cases above fail for their own reason", async () => {
    const id = await createRollout(ebb!, VALID);
    expect(await ebb!.prisma.rollout.count()).toBe(1);
    expect((await command(ebb!, id, "abort")).status).toBe(200);
    expect((await untilTerminal(ebb!, id)).status).toBe("aborted");
  });
});

describe("Idempotency-Key", () => {
  it("two requests with the same key return the same rollout", async () => {
    // Given a client that retries its request with the same Idempotency-Key
    const e = ebb!;
    const headers = { "idempotency-key": "ci-build-1234" };

    // When it sends it twice
    const first = await request<{ id: string }>(e, "POST", "/rollouts", { body: VALID, headers });
    const second = await request<{ id: string }>(e, "POST", "/rollouts", { body: VALID, headers });

    // Then both answers carry the same id, and one rollout exists
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    expect(second.status, JSON.stringify(second.body)).toBeLessThan(300);
    expect(second.body.id).toBe(first.body.id);
    expect(await e.prisma.rollout.count()).toBe(1);
    // a different key is a different request: refused, the fleet is leased by the first
    const other = await request<ApiErrorBody>(e, "POST", "/rollouts", {
      body: VALID,
      headers: { "idempotency-key": "ci-build-1235" },
    });
    expect(other.status, JSON.stringify(other.body)).toBe(409);
    expect(await e.prisma.rollout.count()).toBe(1);
    const aborted = await command(e, first.body.id, "abort");
    expect(aborted.status).toBe(200);
    expect(targetOf(aborted.body, "vm2").status).toBe("skipped");
    expect((await untilTerminal(e, first.body.id)).status).toBe("aborted");
  });

  it("the same key for a different rollout is refused with 422, creating nothing", async () => {
    // Given a rollout created with a key
    const e = ebb!;
    const headers = { "idempotency-key": "ci-build-reused" };
    const first = await request<{ id: string }>(e, "POST", "/rollouts", { body: VALID, headers });
    expect(first.status, JSON.stringify(first.body)).toBe(201);

    // When a client reuses the key for another version
    const reused = await request<ApiErrorBody>(e, "POST", "/rollouts", {
      body: { ...VALID, version: "9.9.9" },
      headers,
    });

    // Then it is told so, pointed at the first rollout, and nothing more exists
    expect(reused.status, JSON.stringify(reused.body)).toBe(422);
    expect(reused.body.error.message).toMatch(/Idempotency-Key/);
    expect(await e.prisma.rollout.count()).toBe(1);
    expect((await command(e, first.body.id, "abort")).status).toBe(200);
    expect((await untilTerminal(e, first.body.id)).status).toBe("aborted");
  });

  it("fifty concurrent requests with the same key create exactly one rollout", async () => {
    // Given fifty clients racing with one key
    const e = ebb!;
    const headers = { "idempotency-key": "ci-build-race" };

    // When they all send at once
    const answers = await Promise.all(
      Array.from({ length: 50 }, () =>
        request<{ id: string }>(e, "POST", "/rollouts", { body: VALID, headers }),
      ),
    );

    // Then every one succeeds with the same id, and there is one rollout, holding each target's lease once
    for (const a of answers) expect(a.status, JSON.stringify(a.body)).toBeLessThan(300);
    const ids = new Set(answers.map((a) => a.body.id));
    expect(ids.size).toBe(1);
    expect(await e.prisma.rollout.count()).toBe(1);
    const [id] = [...ids];
    const leases = await e.prisma.lease.findMany();
    expect(leases.every((l) => l.rolloutId === id)).toBe(true);
    expect(await e.prisma.targetRun.count()).toBe(lab!.vms.length);
    expect((await command(e, id!, "abort")).status).toBe(200);
    expect((await untilTerminal(e, id!)).status).toBe("aborted");
  });
});
