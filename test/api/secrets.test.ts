import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { bootstrap, featureModules, parseConfig, type RunningApp } from "@ebb/api";
import { registerWorld } from "@ebb/lab";
import { freePort, waitFor } from "@ebb/testkit";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestDatabase, testDatabases } from "../../apps/api/test-support/database.js";
import type { Lab } from "../support/rollouts.js";
import { givenLab } from "../support/world.js";

// Planted secrets (an SSH private key in the worker's environment, a kubeconfig passed as a secret runbook
// parameter and printed by a command, an inline key someone tries to store) must not appear in any API
// answer, log line, Redis key or value, or audit row. Everything is captured and searched.

const NET = 14;
const TOKEN = "secrets-test-admin-token-0123456789";
const sshMarker = `PLANTEDSSHKEY${randomBytes(8).toString("hex")}`;
const kubeMarker = `PLANTEDKUBE${randomBytes(8).toString("hex")}`;
const SSH_KEY = `-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE${sshMarker}AAAA\n-----END OPENSSH PRIVATE KEY-----\n`;
const KUBECONFIG = `apiVersion: v1\nkind: Config\nusers:\n- name: ci\n  user:\n    token: ${kubeMarker}\n`;

let lab: Lab | undefined;
let app: RunningApp | undefined;
let database: TestDatabase | undefined;
let dataDir = "";
const answers: string[] = [];
const logged: string[] = [];

async function call(method: string, route: string, body?: unknown, token = TOKEN) {
  const res = await fetch(`${app!.apiUrl}${route}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  answers.push(`${res.status} ${route} ${JSON.stringify(Object.fromEntries(res.headers))} ${text}`);
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
}

beforeAll(async () => {
  lab = await givenLab(NET, { vms: 1 });
  dataDir = await mkdtemp(path.join(tmpdir(), "ebb-secrets-"));
  const host = `127.0.${NET}.1`;
  const config = parseConfig(
    {
      EBB_API_HOST: host,
      EBB_API_PORT: String(await freePort(host)),
      EBB_REDIS_PORT: String(await freePort("127.0.0.1")),
      EBB_DATA_DIR: dataDir,
      EBB_ADMIN_TOKEN: TOKEN,
      EBB_LOG_LEVEL: "debug",
    },
    { cwd: dataDir },
  );
  database = await testDatabases()[0]!.open();
  const capture =
    (level: string) =>
    (message: unknown, ...rest: unknown[]) => {
      logged.push(`${level} ${String(message)} ${rest.map(String).join(" ")}`);
    };
  app = await bootstrap(config, {
    database,
    // The key is in the worker's environment, where `keyRef: env:DEPLOY_KEY` points.
    modules: featureModules(config, { ...process.env, DEPLOY_KEY: SSH_KEY }),
    logger: {
      log: capture("log"),
      error: capture("error"),
      warn: capture("warn"),
      debug: capture("debug"),
      verbose: capture("verbose"),
    },
  });
  await registerWorld(database.prisma, lab);
});

afterAll(async () => {
  await app?.close();
  await database?.drop();
  await lab?.cleanup();
  await rm(dataDir, { recursive: true, force: true });
});

describe("planted secrets", () => {
  it("reach no API answer, log line, Redis key or value, or audit row", async () => {
    // An inline key is refused, and not echoed back.
    const inline = await call("POST", "/fleets", {
      name: "inline",
      balancer: "l4",
      balancerConfig: { adminUrl: lab!.device.adminUrl },
      targets: [
        {
          name: "vm1",
          host: "127.0.0.1",
          port: 22,
          executor: "ssh",
          executorConfig: { user: "deploy", keyRef: SSH_KEY, hostKey: "ssh-ed25519 AAAA" },
        },
      ],
    });
    expect(inline.status).toBe(400);

    // An ssh fleet whose key is a reference to the worker's environment; its rollout fails to connect.
    const vm = lab!.vms[0]!;
    const bySsh = await call("POST", "/fleets", {
      name: "by-ssh",
      balancer: "l4",
      balancerConfig: { adminUrl: lab!.device.adminUrl },
      targets: [
        {
          name: vm.name,
          host: vm.host,
          port: vm.port,
          executor: "ssh",
          executorConfig: {
            host: `127.0.${NET}.99`,
            port: await freePort(`127.0.${NET}.1`),
            user: "deploy",
            keyRef: "env:DEPLOY_KEY",
            hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
          },
        },
      ],
    });
    expect(bySsh.status, JSON.stringify(bySsh.body)).toBe(201);
    const viaSsh = await call("POST", "/rollouts", { fleet: "by-ssh", version: "2.0.0", force: true });
    expect(viaSsh.status, JSON.stringify(viaSsh.body)).toBe(201);
    const sshId = viaSsh.body!.id as string;

    // A runbook with a secret parameter that a command prints: the step's output is stored redacted.
    const runbook = `apiVersion: ebb/v1
kind: Runbook
name: leaky
balancer: l4
params:
  kubeconfig: { secret: true }
steps:
  - id: print
    type: exec
    script: printf '%s' "$KUBECONFIG_DATA"
    env: { KUBECONFIG_DATA: "\${params.kubeconfig}" }
`;
    expect((await call("POST", "/runbooks", { source: runbook })).status).toBe(201);
    const leaky = await call("POST", "/rollouts", {
      fleet: "lab",
      version: "2.0.0",
      runbook: "leaky",
      params: { kubeconfig: KUBECONFIG },
      force: true,
    });
    expect(leaky.status, JSON.stringify(leaky.body)).toBe(201);
    const leakyId = leaky.body!.id as string;

    const done = async (id: string, states: string[]) =>
      waitFor(
        async () => {
          const r = await call("GET", `/rollouts/${id}`);
          return states.includes(r.body?.status as string) ? r.body : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 200, what: `rollout ${id} to end` },
      );
    await done(sshId, ["failed", "succeeded"]);
    const printed = await done(leakyId, ["succeeded", "failed"]);
    expect(printed?.status).toBe("succeeded");
    const stored = await database!.prisma.stepRun.findMany({ where: { targetRun: { rolloutId: leakyId } } });
    expect(stored[0]?.outputTail).toContain("[redacted]");
    for (const id of [sshId, leakyId]) await call("GET", `/rollouts/${id}`);
    await call("GET", "/rollouts");
    await call("GET", "/fleets");
    await call("GET", "/runbooks/leaky");
    await call("GET", "/audit?limit=500");

    // Everything Redis holds: keys, and every value by type.
    const redis = new Redis(app!.redisUrl);
    const dump: string[] = [];
    try {
      let cursor = "0";
      do {
        const [next, keys] = await redis.scan(cursor, "COUNT", 500);
        cursor = next;
        for (const key of keys) {
          dump.push(key);
          const type = await redis.type(key);
          if (type === "string") dump.push((await redis.get(key)) ?? "");
          else if (type === "hash") dump.push(JSON.stringify(await redis.hgetall(key)));
          else if (type === "list") dump.push(JSON.stringify(await redis.lrange(key, 0, -1)));
          else if (type === "set") dump.push(JSON.stringify(await redis.smembers(key)));
          else if (type === "zset") dump.push(JSON.stringify(await redis.zrange(key, 0, -1)));
          else if (type === "stream") dump.push(JSON.stringify(await redis.xrange(key, "-", "+")));
        }
      } while (cursor !== "0");
    } finally {
      redis.disconnect();
    }
    expect(dump.length).toBeGreaterThan(0);
    const audit = await database!.prisma.$queryRaw<unknown[]>`SELECT * FROM audit_events`;
    expect(audit.length).toBeGreaterThan(10);

    const places = {
      "API answers": answers.join("\n"),
      logs: logged.join("\n"),
      Redis: dump.join("\n"),
      "audit rows": JSON.stringify(audit, (_k, v) => (typeof v === "bigint" ? v.toString() : v)),
    };
    for (const [where, text] of Object.entries(places)) {
      for (const marker of [sshMarker, kubeMarker, "BEGIN OPENSSH"]) {
        expect(text.includes(marker), `${marker} in ${where}`).toBe(false);
      }
    }
  });

  it("a revoked token's event stream closes", async () => {
    const created = await call("POST", "/tokens", { name: "watcher", scope: "read" });
    expect(created.status).toBe(201);
    const res = await fetch(`${app!.apiUrl}/fleets/lab/live`, {
      headers: { authorization: `Bearer ${created.body!.token as string}` },
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    await reader.read(); // the stream is open
    let ended = false;
    const drained = (async () => {
      for (;;) {
        const { done } = await reader.read();
        if (done) break;
      }
      ended = true;
    })();
    expect((await call("DELETE", `/tokens/${created.body!.id as string}`)).status).toBe(204);
    await waitFor(() => ended, { timeoutMs: 10_000, what: "the stream to end after the revocation" });
    await drained;
    const again = await fetch(`${app!.apiUrl}/fleets/lab/live`, {
      headers: { authorization: `Bearer ${created.body!.token as string}` },
    });
    expect(again.status).toBe(401);
    await again.body?.cancel();
  });
});
