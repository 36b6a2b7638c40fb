// issue #15 §2: webhooks. A local receiver refuses each delivery's first two tries (500) and checks every
// signature: deliveries arrive signed, are retried with exponential backoff by BullMQ, and the delivery log
// shows the tries. A receiver that always fails gets every try, then the delivery is recorded failed.
import { createHmac } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import type { WebhookDeliveryView, WebhookView } from "@ebb/contracts";
import { webhookSignatureProblem } from "@ebb/core";
import { waitFor } from "@ebb/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, givenEbb, type RunningEbb } from "../support/ebb.js";
import type { Lab } from "../support/rollouts.js";
import { givenLab } from "../support/world.js";

const NET = 163;
const SECRET = "whsec-test-0123456789abcdef";
const REFUSALS = 2;
const ATTEMPTS = 4;
const BACKOFF_MS = 60;

interface Received {
  path: string;
  at: number;
  delivery: string;
  event: string;
  signature: string | undefined;
  body: string;
  answered: number;
}

let lab: Lab | undefined;
let ebb: RunningEbb | undefined;
let receiver: Server | undefined;
let receiverUrl = "";
let secretDir = "";
let hookId = "";
const received: Received[] = [];

/** Each delivery (Ebb-Delivery) is refused REFUSALS times on /ok, always on /down. */
function answerFor(req: IncomingMessage, delivery: string): number {
  if (req.url === "/down") return 503;
  const tries = received.filter((r) => r.delivery === delivery).length;
  return tries < REFUSALS ? 500 : 200;
}

async function startReceiver(host: string): Promise<void> {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const delivery = String(req.headers["ebb-delivery"] ?? "");
      const answered = answerFor(req, delivery);
      received.push({
        path: req.url ?? "",
        at: Date.now(),
        delivery,
        event: String(req.headers["ebb-event"] ?? ""),
        signature: req.headers["ebb-signature"] as string | undefined,
        body: Buffer.concat(chunks).toString("utf8"),
        answered,
      });
      res.writeHead(answered).end();
    });
  });
  await new Promise<void>((resolve) => receiver!.listen(0, host, resolve));
  receiverUrl = `http://${host}:${(receiver.address() as AddressInfo).port}`;
}

async function finished(id: string, status: string): Promise<void> {
  await waitFor(
    async () => (await api<{ status: string }>(ebb!, "GET", `/rollouts/${id}`)).body.status === status,
    { timeoutMs: 20_000, what: `rollout ${id} ${status}` },
  );
}

beforeAll(async () => {
  lab = await givenLab(NET, { vms: 1 });
  secretDir = await mkdtemp(path.join(tmpdir(), "ebb-webhook-secret-"));
  await writeFile(path.join(secretDir, "hook"), `${SECRET}\n`);
  ebb = await givenEbb(lab, NET, {
    EBB_WEBHOOK_ATTEMPTS: String(ATTEMPTS),
    EBB_WEBHOOK_BACKOFF_MS: String(BACKOFF_MS),
    EBB_WEBHOOK_TIMEOUT_MS: "2000",
  });
  await startReceiver(`127.0.${NET}.1`);
});

afterAll(async () => {
  await ebb?.cleanup();
  await lab?.cleanup();
  await new Promise((resolve) => (receiver ? receiver.close(resolve) : resolve(undefined)));
  await rm(secretDir, { recursive: true, force: true });
});

describe("webhooks", () => {
  it("refuses bad input with a 400 naming the field", async () => {
    const good = { name: "ops", url: `${receiverUrl}/ok`, secret: "secret:env:HOOK" };
    const cases: [Record<string, unknown>, string][] = [
      [{ ...good, url: "ftp://example.org/hook" }, "url"],
      [{ ...good, url: "not a url" }, "url"],
      [{ ...good, events: ["rollout.exploded"] }, "events.0"],
      [{ ...good, fleet: "no-such-fleet" }, "fleet"],
      [{ ...good, secret: undefined }, "secret"],
      // The secret itself instead of a reference: refused, and never stored.
      [{ ...good, secret: SECRET }, "secret"],
      [{ ...good, format: "teams" }, "format"],
    ];
    for (const [body, field] of cases) {
      const res = await api<{ error: { details: { path: string }[] } }>(ebb!, "POST", "/webhooks", body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(
        res.body.error.details.map((d) => d.path),
        JSON.stringify(res.body),
      ).toContain(field);
    }
    expect(JSON.stringify((await api(ebb!, "GET", "/webhooks")).body)).not.toContain(SECRET);
  });

  it("is in the OpenAPI document, with the contracts' body schema", async () => {
    const origin = new URL(ebb!.apiUrl).origin;
    const doc = (await (await fetch(`${origin}/api/docs-json`)).json()) as {
      paths: Record<
        string,
        Record<string, { requestBody?: { content: Record<string, { schema: unknown }> } }>
      >;
    };
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        "/api/v1/webhooks",
        "/api/v1/webhooks/{id}",
        "/api/v1/webhooks/{id}/deliveries",
      ]),
    );
    const create = doc.paths["/api/v1/webhooks"]?.post?.requestBody?.content["application/json"]?.schema;
    expect(create).toMatchObject({
      properties: {
        url: { type: "string" },
        secret: { type: "string" },
        format: { enum: ["json", "slack"] },
      },
    });
  });

  it("delivers signed events, retried with backoff, each try in the delivery log; a dead receiver's delivery fails", async () => {
    // Given a signed JSON webhook on fleet lab, and a Slack-format one for every fleet whose receiver is down
    const hook = await api<WebhookView>(ebb!, "POST", "/webhooks", {
      name: "ops",
      url: `${receiverUrl}/ok`,
      fleet: "lab",
      events: ["rollout.started", "rollout.awaiting_approval", "rollout.succeeded", "rollout.failed"],
      secret: `secret:file:${path.join(secretDir, "hook")}`,
    });
    expect(hook.status, JSON.stringify(hook.body)).toBe(201);
    expect(hook.body).toMatchObject({ fleet: "lab", format: "json", signed: true });
    expect(JSON.stringify(hook.body)).not.toContain("secret:file");
    hookId = hook.body.id;
    const slack = await api<WebhookView>(ebb!, "POST", "/webhooks", {
      name: "chat",
      url: `${receiverUrl}/down`,
      events: ["rollout.failed"],
      format: "slack",
    });
    expect(slack.status, JSON.stringify(slack.body)).toBe(201);

    // When a rollout waits at an approval gate, is approved and succeeds; and a second one fails
    const runbook = (name: string, command: string) => `apiVersion: ebb/v1
kind: Runbook
name: ${name}
balancer: l4
steps:
  - { id: gate, type: approval }
  - { id: work, type: exec, run: ["${command}"] }
`;
    const created = await api(ebb!, "POST", "/runbooks", { source: runbook("hook-ok", "true") });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect((await api(ebb!, "POST", "/runbooks", { source: runbook("hook-fail", "false") })).status).toBe(
      201,
    );
    const ok = await api<{ id: string }>(ebb!, "POST", "/rollouts", {
      fleet: "lab",
      version: "2.0.0",
      runbook: "hook-ok",
      force: true,
    });
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
    await waitFor(
      async () => (await api(ebb!, "POST", `/rollouts/${ok.body.id}/approve`, {})).status === 200,
      { what: "the approval gate" },
    );
    await finished(ok.body.id, "succeeded");
    const bad = await api<{ id: string }>(ebb!, "POST", "/rollouts", {
      fleet: "lab",
      version: "3.0.0",
      runbook: "hook-fail",
      force: true,
    });
    expect(bad.status, JSON.stringify(bad.body)).toBe(201);
    await waitFor(
      async () => (await api(ebb!, "POST", `/rollouts/${bad.body.id}/approve`, {})).status === 200,
      { what: "the second approval gate" },
    );
    await finished(bad.body.id, "failed");

    // Then every event reached the receiver at its third try, each try signed with the secret
    const wanted = [
      ["rollout.started", ok.body.id],
      ["rollout.awaiting_approval", ok.body.id],
      ["rollout.succeeded", ok.body.id],
      ["rollout.started", bad.body.id],
      ["rollout.awaiting_approval", bad.body.id],
      ["rollout.failed", bad.body.id],
    ];
    const delivered = () =>
      received.filter((r) => r.path === "/ok" && r.answered === 200).map((r) => JSON.parse(r.body));
    await waitFor(() => delivered().length >= wanted.length, { timeoutMs: 15_000, what: "six deliveries" });
    expect(
      delivered()
        .map((p) => [p.event, p.rollout.id])
        .sort(),
    ).toEqual([...wanted].sort());
    const failed = delivered().find((p) => p.event === "rollout.failed");
    expect(failed).toMatchObject({
      fleet: "lab",
      target: lab!.vms[0]!.name,
      step: "work",
      rollout: { version: "3.0.0", runbook: "hook-fail" },
    });

    const tries = received.filter((r) => r.path === "/ok");
    expect(tries).toHaveLength(wanted.length * (REFUSALS + 1));
    for (const t of tries) {
      expect(
        webhookSignatureProblem(SECRET, t.body, t.signature, Math.floor(t.at / 1000)),
        t.body,
      ).toBeUndefined();
      // The documented scheme, recomputed by hand: t=<unix>,v1=hex(HMAC-SHA256(secret, "<t>.<body>")).
      const [, ts, sig] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(t.signature ?? "") ?? [];
      expect(sig).toBe(createHmac("sha256", SECRET).update(`${ts}.${t.body}`).digest("hex"));
    }
    // Exponential backoff between the tries of one delivery: BACKOFF_MS, then twice that.
    for (const id of new Set(tries.map((t) => t.delivery))) {
      const at = tries.filter((t) => t.delivery === id).map((t) => t.at);
      expect(at[1]! - at[0]!, `delivery ${id}`).toBeGreaterThanOrEqual(BACKOFF_MS - 5);
      expect(at[2]! - at[1]!, `delivery ${id}`).toBeGreaterThanOrEqual(2 * BACKOFF_MS - 5);
    }

    // And the delivery log shows each delivery with its three tries, the last error and answer
    const log = await api<WebhookDeliveryView[]>(ebb!, "GET", `/webhooks/${hook.body.id}/deliveries`);
    expect(log.status).toBe(200);
    expect(log.body).toHaveLength(wanted.length);
    for (const d of log.body) {
      expect(d).toMatchObject({ status: "delivered", attempts: REFUSALS + 1, responseStatus: 200 });
      expect(d.lastError).toMatch(/HTTP 500/);
      expect(d.finishedAt).not.toBeNull();
    }

    // The Slack-format delivery to a receiver that is down: every try made, then recorded failed
    const slackLog = await waitFor(
      async () => {
        const res = await api<WebhookDeliveryView[]>(ebb!, "GET", `/webhooks/${slack.body.id}/deliveries`);
        return res.body.length === 1 && res.body[0]!.status === "failed" ? res.body[0] : undefined;
      },
      { timeoutMs: 15_000, what: "the Slack delivery given up" },
    );
    expect(slackLog).toMatchObject({ attempts: ATTEMPTS, responseStatus: 503, event: "rollout.failed" });
    const slackTries = received.filter((r) => r.path === "/down");
    expect(slackTries).toHaveLength(ATTEMPTS);
    expect(slackTries[0]!.signature).toBeUndefined();
    expect(JSON.parse(slackTries[0]!.body)).toEqual({
      text: expect.stringMatching(
        /^Ebb: rollout [0-9a-f]{8} of lab \(3\.0\.0, hook-fail\) failed at .* step work/,
      ),
    });

    // Creates and deletes are in the audit history; a deleted webhook's log is gone with it
    expect((await api(ebb!, "DELETE", `/webhooks/${slack.body.id}`)).status).toBe(204);
    expect((await api(ebb!, "GET", `/webhooks/${slack.body.id}/deliveries`)).status).toBe(404);
    const audit = await api<{ items: { action: string; outcome: string; summary: unknown }[] }>(
      ebb!,
      "GET",
      "/audit?resourceType=webhook",
    );
    const actions = audit.body.items.map((e) => `${e.action} ${e.outcome}`);
    expect(actions.filter((a) => a === "webhook.create succeeded")).toHaveLength(2);
    expect(actions).toContain("webhook.delete succeeded");
    expect(JSON.stringify(audit.body)).not.toContain(SECRET);
  });
  it("announces a rollout created waiting for a second person (no transition says so)", async () => {
    // Given fleet lab protected (its rollouts wait for someone other than the requester), the failed
    // rollout that holds it aborted
    const held = await api<{ items: { id: string; status: string }[] }>(
      ebb!,
      "GET",
      "/rollouts?status=failed",
    );
    for (const r of held.body.items) {
      expect((await api(ebb!, "POST", `/rollouts/${r.id}/abort`, {})).status).toBe(200);
      await finished(r.id, "aborted");
    }
    await ebb!.prisma.fleet.update({ where: { name: "lab" }, data: { protected: true } });
    // When a rollout is created
    const pending = await api<{ id: string; requiresApproval: boolean }>(ebb!, "POST", "/rollouts", {
      fleet: "lab",
      version: "4.0.0",
      runbook: "hook-ok",
      force: true,
    });
    expect(pending.status, JSON.stringify(pending.body)).toBe(201);
    expect(pending.body.requiresApproval).toBe(true);
    // Then the webhook hears it is waiting for approval, signed, after its refused tries
    const announced = await waitFor(
      () =>
        received
          .filter((r) => r.path === "/ok" && r.answered === 200)
          .map((r) => JSON.parse(r.body))
          .find((p) => p.rollout.id === pending.body.id),
      { timeoutMs: 15_000, what: "the pending approval delivered" },
    );
    expect(announced).toMatchObject({
      event: "rollout.awaiting_approval",
      reason: expect.stringMatching(/second person/),
      rollout: { status: "pending" },
    });
    const log = await api<WebhookDeliveryView[]>(ebb!, "GET", `/webhooks/${hookId}/deliveries?limit=1`);
    expect(log.body[0]).toMatchObject({
      rolloutId: pending.body.id,
      status: "delivered",
      attempts: REFUSALS + 1,
    });
  });
});
