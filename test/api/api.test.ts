import type {
  FleetLive,
  FleetView,
  RolloutDetail,
  RolloutPage,
  RolloutPreview,
  RunbookSummary,
  RunbookValidation,
  RunbookVersionView,
} from "@ebb/contracts";
import { waitFor } from "@ebb/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createToken } from "../../apps/api/src/auth/tokens.js";
import { createUser } from "../../apps/api/src/auth/users.js";
import { api, givenEbb, type RunningEbb, TEST_ADMIN_TOKEN } from "../support/ebb.js";
import { type ApiErrorBody, command, type Lab, request, untilTerminal } from "../support/rollouts.js";
import { givenLab } from "../support/world.js";

// The REST API around rollouts: fleets and targets, runbook versions, listing with cursors, previews,
// approvals by a second person, event streams, limits and the OpenAPI document. Real PGlite, Redis, lab.

let lab: Lab | undefined;
let ebb: RunningEbb | undefined;

beforeAll(async () => {
  lab = await givenLab(12, { vms: 3 });
  ebb = await givenEbb(
    lab,
    12,
    {
      EBB_APPROVAL_TARGET_THRESHOLD: "1",
      EBB_MAX_TARGETS_PER_ROLLOUT: "2",
      EBB_ROLLOUT_RATE_LIMIT: "6",
      EBB_MAX_BODY_BYTES: "4096",
    },
    { database: "postgres" },
  );
});

afterAll(async () => {
  await ebb?.cleanup();
  await lab?.cleanup();
});

const adminUrl = () => lab!.device.adminUrl;

/** A fleet of one lab VM behind the lab's device: its own target row, so it can be leased apart. */
async function oneVmFleet(name: string, vm: string, extra: Record<string, unknown> = {}): Promise<FleetView> {
  const target = lab!.vms.find((v) => v.name === vm)!;
  const res = await api<FleetView>(ebb!, "POST", "/fleets", {
    name,
    balancer: "l4",
    balancerConfig: { adminUrl: adminUrl() },
    targets: [{ name: vm, host: target.host, port: target.port }],
    ...extra,
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

async function newToken(scope: "read" | "deploy" | "admin", name: string): Promise<string> {
  const res = await api<{ token: string }>(ebb!, "POST", "/tokens", { name, scope });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.token;
}

describe("fleets and targets", () => {
  it("are created, read, updated and deleted; bad input names the field and stores nothing", async () => {
    const e = ebb!;
    const created = await oneVmFleet("crud", "vm1");
    expect(created.targets.map((t) => t.name)).toEqual(["vm1"]);

    const duplicate = await api<ApiErrorBody>(e, "POST", "/fleets", {
      name: "crud",
      balancer: "l4",
      balancerConfig: { adminUrl: adminUrl() },
    });
    expect(duplicate.status).toBe(409);

    const badConfig = await api<ApiErrorBody>(e, "POST", "/fleets", {
      name: "bad-config",
      balancer: "l4",
      balancerConfig: { adminUrl: "not a url" },
    });
    expect(badConfig.status, JSON.stringify(badConfig.body)).toBe(400);
    expect(JSON.stringify(badConfig.body.error.details)).toMatch(/balancerConfig\.adminUrl/);

    // An ssh target must name its key by reference: an inline key is refused, and never echoed back.
    const inlineKey =
      "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----";
    const badTarget = await api<ApiErrorBody>(e, "POST", "/fleets/crud/targets", {
      name: "vm9",
      host: "127.0.12.99",
      port: 22,
      executor: "ssh",
      executorConfig: { user: "deploy", key: inlineKey, hostKey: "ssh-ed25519 AAAA" },
    });
    expect(badTarget.status, JSON.stringify(badTarget.body)).toBe(400);
    expect(JSON.stringify(badTarget.body)).not.toContain("BEGIN OPENSSH");
    expect(JSON.stringify(badTarget.body.error.details)).toMatch(/executorConfig/);
    expect(await e.prisma.fleet.count({ where: { name: "bad-config" } })).toBe(0);

    const added = await api(e, "POST", "/fleets/crud/targets", {
      name: "vm2",
      host: "127.0.12.12",
      port: 18080,
    });
    expect(added.status, JSON.stringify(added.body)).toBe(201);
    const patched = await api<{ port: number }>(e, "PATCH", "/fleets/crud/targets/vm2", { port: 18081 });
    expect(patched.body.port).toBe(18081);
    const updated = await api<FleetView>(e, "PATCH", "/fleets/crud", { protected: true });
    expect(updated.body.protected).toBe(true);
    expect((await api<FleetView[]>(e, "GET", "/fleets")).body.map((f) => f.name)).toContain("crud");
    expect((await api(e, "DELETE", "/fleets/crud/targets/vm2")).status).toBe(204);
    expect((await api(e, "DELETE", "/fleets/crud")).status).toBe(204);
    expect((await api<ApiErrorBody>(e, "GET", "/fleets/crud")).status).toBe(404);
  });

  it("streams live traffic per target, and refuses a stream without credentials", async () => {
    const e = ebb!;
    const anonymous = await fetch(`${e.apiUrl}/fleets/lab/live`);
    expect(anonymous.status).toBe(401);
    await anonymous.body?.cancel();

    const events = await readEvents(
      `${e.apiUrl}/fleets/lab/live`,
      (evs) => evs.filter((x) => x.event === "traffic").length >= 2,
    );
    const live = JSON.parse(events.filter((x) => x.event === "traffic").at(-1)!.data) as FleetLive;
    expect(live.fleet).toBe("lab");
    expect(live.targets.map((t) => t.name).sort()).toEqual(["vm1", "vm2", "vm3"]);
    expect(live.targets.every((t) => t.state === "up" && t.bound)).toBe(true);
    expect(live.targets.every((t) => typeof t.version === "string")).toBe(true);
  });
});

describe("runbooks", () => {
  const source = (extra = "") => `apiVersion: ebb/v1
kind: Runbook
name: api-test
balancer: l4
steps:
  - { id: await-unbound, type: balancer.awaitUnbound }${extra}
`;

  it("validate names the line; versions are immutable and the same text is not stored twice", async () => {
    const e = ebb!;
    const invalid = await api<RunbookValidation>(e, "POST", "/runbooks/validate", {
      source: source("\n  - { id: nap, type: sleep, duration: soon }"),
    });
    expect(invalid.status).toBe(200);
    expect(invalid.body.ok).toBe(false);
    expect(invalid.body.issues[0]).toMatchObject({ line: 7 });

    const v1 = await api<RunbookVersionView>(e, "POST", "/runbooks", { source: source() });
    expect(v1.status, JSON.stringify(v1.body)).toBe(201);
    expect(v1.body.version).toBe(1);
    const again = await api<RunbookVersionView>(e, "POST", "/runbooks", { source: source() });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(v1.body.id);
    const v2 = await api<RunbookVersionView>(e, "POST", "/runbooks", {
      source: source("\n  - { id: await-bound, type: balancer.awaitBound }"),
    });
    expect(v2.body.version).toBe(2);
    expect((await api<RunbookVersionView>(e, "GET", "/runbooks/api-test/versions/1")).body.source).toBe(
      source(),
    );
    expect((await api<RunbookVersionView>(e, "GET", "/runbooks/api-test")).body.version).toBe(2);

    const builtin = await api<ApiErrorBody>(e, "POST", "/runbooks", {
      source: source().replace("name: api-test", "name: l4-drain"),
    });
    expect(builtin.status).toBe(409);
    const list = await api<RunbookSummary[]>(e, "GET", "/runbooks");
    expect(list.body.find((r) => r.name === "l4-drain")?.builtin).toBe(true);
    expect(list.body.find((r) => r.name === "api-test")?.versions.map((v) => v.version)).toEqual([2, 1]);

    const broken = await api<ApiErrorBody>(e, "POST", "/runbooks", { source: "name: [" });
    expect(broken.status).toBe(400);
    expect(broken.body.error.code).toBe("runbook_invalid");
  });
});

describe("rollouts", () => {
  it("a preview plans without creating; a rollout over the approval threshold waits for someone else", async () => {
    const e = ebb!;
    const pair = await api(e, "POST", "/fleets", {
      name: "pair",
      balancer: "l4",
      balancerConfig: { adminUrl: adminUrl() },
      targets: lab!.vms.slice(0, 2).map((v) => ({ name: v.name, host: v.host, port: v.port })),
    });
    expect(pair.status).toBe(201);
    const body = { fleet: "pair", version: "3.0.0", runbook: "l4-drain", maxUnavailable: 1 };
    const preview = await api<RolloutPreview>(e, "POST", "/rollouts/preview", body);
    expect(preview.status, JSON.stringify(preview.body)).toBe(200);
    expect(preview.body.batches).toEqual([["vm1"], ["vm2"]]);
    expect(preview.body.expectedDurationMs).toBeGreaterThan(0);
    expect(preview.body.requiresApproval).toBe(true); // 2 targets > EBB_APPROVAL_TARGET_THRESHOLD=1
    expect(await e.prisma.rollout.count({ where: { fleet: { name: "pair" } } })).toBe(0);

    // The requester cannot approve their own rollout; another deployer can, and it starts.
    const created = await api<{ id: string; requiresApproval: boolean }>(e, "POST", "/rollouts", body);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.requiresApproval).toBe(true);
    const id = created.body.id;
    expect((await api<RolloutDetail>(e, "GET", `/rollouts/${id}`)).body.status).toBe("pending");
    const self = await api<ApiErrorBody>(e, "POST", `/rollouts/${id}/approve`, {});
    expect(self.status, JSON.stringify(self.body)).toBe(403);

    const stream = readEvents(`${e.apiUrl}/rollouts/${id}/events`, (evs) =>
      evs.some((x) => x.event === "notice" && x.data.includes('"batch.started"')),
    );
    // A second token of the requester is the same person (four eyes compares users, not credentials).
    const mine = await newToken("deploy", "requesters-second-token");
    const own = await api<ApiErrorBody>(e, "POST", `/rollouts/${id}/approve`, {}, mine);
    expect(own.status, JSON.stringify(own.body)).toBe(403);
    const person = await createUser(e.prisma, {
      username: "second-person",
      password: "second-person-password",
      role: "deploy",
    });
    const { value: other } = await createToken(
      e.prisma,
      { name: "second-person", scope: "deploy", createdBy: person.id },
      new Date(),
    );
    const approved = await api<RolloutDetail>(e, "POST", `/rollouts/${id}/approve`, {}, other);
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);
    expect(approved.body.approvedBy).toBe("second-person");
    const events = await stream;
    expect(events[0]?.event).toBe("snapshot");
    expect(events.some((x) => x.event === "notice" && x.id !== undefined)).toBe(true);

    expect((await command(e, id, "abort")).status).toBe(200);
    expect((await untilTerminal(e, id)).status).toBe("aborted");
  });

  it("lists newest first in cursor pages that neither skip nor repeat", async () => {
    const e = ebb!;
    // Protected one-VM fleets: each rollout waits for approval, holding its own target's lease.
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      await oneVmFleet(`page-${i}`, "vm1", { protected: true });
      const res = await api<{ id: string }>(e, "POST", "/rollouts", { fleet: `page-${i}`, version: "1.0.0" });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      ids.push(res.body.id);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; body: RolloutPage } = await api<RolloutPage>(
        e,
        "GET",
        `/rollouts?limit=2&status=pending${cursor ? `&cursor=${cursor}` : ""}`,
      );
      expect(page.status, JSON.stringify(page.body)).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.items.map((r) => r.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
    const byFleet = await api<RolloutPage>(e, "GET", "/rollouts?fleet=page-3");
    expect(byFleet.body.items.map((r) => r.id)).toEqual([ids[3]]);
    const badCursor = await api<ApiErrorBody>(e, "GET", "/rollouts?cursor=bm9wZQ");
    expect(badCursor.status).toBe(400);
    const badStatus = await api<ApiErrorBody>(e, "GET", "/rollouts?status=sleeping");
    expect(badStatus.status).toBe(400);
    expect(JSON.stringify(badStatus.body.error.details)).toMatch(/status/);

    // Rate limit: EBB_ROLLOUT_RATE_LIMIT=6 a minute, and 6 were created in this file so far.
    await oneVmFleet("one-too-many", "vm2", { protected: true });
    const limited = await api<ApiErrorBody>(e, "POST", "/rollouts", {
      fleet: "one-too-many",
      version: "1.0.0",
    });
    expect(limited.status, JSON.stringify(limited.body)).toBe(429);
    expect(await e.prisma.rollout.count({ where: { fleet: { name: "one-too-many" } } })).toBe(0);
    for (const id of ids) expect((await command(e, id, "abort")).status).toBe(200);
  });

  it("limits: a body over EBB_MAX_BODY_BYTES is 413, a plan over EBB_MAX_TARGETS_PER_ROLLOUT is 400", async () => {
    const e = ebb!;
    const big = await request<ApiErrorBody>(e, "POST", "/runbooks/validate", {
      body: { source: "x".repeat(8_000) },
    });
    expect(big.status).toBe(413);
    const tooMany = await api<ApiErrorBody>(e, "POST", "/rollouts/preview", {
      fleet: "lab",
      version: "1.0.0",
      maxUnavailable: 3,
    });
    expect(tooMany.status, JSON.stringify(tooMany.body)).toBe(400);
    expect(tooMany.body.error.message).toMatch(/EBB_MAX_TARGETS_PER_ROLLOUT/);
  });
});

describe("OpenAPI", () => {
  it("is generated from the controllers and browsable at /api/docs", async () => {
    const origin = new URL(ebb!.apiUrl).origin;
    const doc = (await (await fetch(`${origin}/api/docs-json`)).json()) as {
      paths: Record<
        string,
        Record<string, { requestBody?: { content: Record<string, { schema: unknown }> } }>
      >;
    };
    for (const path of ["/api/v1/rollouts", "/api/v1/rollouts/{id}", "/api/v1/fleets", "/api/v1/runbooks"])
      expect(Object.keys(doc.paths)).toContain(path);
    // The body schema is the contracts' zod schema, not a hand-kept copy.
    const create = doc.paths["/api/v1/rollouts"]?.post?.requestBody?.content["application/json"]?.schema;
    expect(create).toMatchObject({ properties: { fleet: { type: "string" }, version: { type: "string" } } });
    // The live stream's event: each target, with every balancer member's own view of it.
    const liveGet = doc.paths["/api/v1/fleets/{name}/live"]?.get as unknown as
      | { responses: Record<string, { content: Record<string, { schema: unknown }> }> }
      | undefined;
    const live = liveGet?.responses["200"]?.content["text/event-stream"]?.schema;
    expect(live).toMatchObject({
      properties: { targets: { items: { properties: { members: { type: "array" } } } } },
    });
    const ui = await fetch(`${origin}/api/docs`);
    expect(ui.status).toBe(200);
    expect(await ui.text()).toMatch(/swagger/i);
  });
});

interface SseEvent {
  event: string;
  data: string;
  id?: string;
}

/** Reads an SSE stream (as the admin) until `done` holds for what arrived, then closes it. */
async function readEvents(url: string, done: (events: SseEvent[]) => boolean): Promise<SseEvent[]> {
  const controller = new AbortController();
  const res = await fetch(url, {
    headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, accept: "text/event-stream" },
    signal: controller.signal,
  });
  expect(res.status).toBe(200);
  const events: SseEvent[] = [];
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    await waitFor(
      async () => {
        const { value, done: ended } = await reader.read();
        if (ended) throw new Error("the stream ended");
        buffer += value;
        let cut = buffer.indexOf("\n\n");
        while (cut >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const fields = Object.fromEntries(
            block
              .split("\n")
              .filter((l) => !l.startsWith(":") && l.includes(":"))
              .map((l) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 1).trimStart()]),
          );
          if (fields.event) events.push({ event: fields.event, data: fields.data ?? "", id: fields.id });
          cut = buffer.indexOf("\n\n");
        }
        return done(events);
      },
      { timeoutMs: 15_000, intervalMs: 1, what: "the expected events" },
    );
  } finally {
    controller.abort();
  }
  return events;
}
