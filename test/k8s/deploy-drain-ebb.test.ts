import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { registerLabDeploy } from "@ebb/lab";
import { waitFor } from "@ebb/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { givenEbbWith, type RunningEbb, TEST_ADMIN_TOKEN } from "../support/ebb.js";
import { givenLabCluster, kubectl } from "./support.js";

// The drain hook's report reaches Ebb: the lab's Deployment pods report to the `lab-deploy` fleet with a
// read-scoped token, and the fleet lists the terminations Ebb did not start.
const NET = 147;

describe("terminations reported by the drain hook", () => {
  let ebb: RunningEbb;
  let lab: Awaited<ReturnType<typeof givenLabCluster>>;
  let tokenDir: string;
  const api = (p: string, init: RequestInit = {}, token = TEST_ADMIN_TOKEN) =>
    fetch(`${ebb.apiUrl}${p}`, {
      ...init,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...init.headers },
    });

  beforeAll(async () => {
    ebb = await givenEbbWith(async () => {}, NET);
    tokenDir = await mkdtemp(path.join(tmpdir(), "ebb-hook-"));
    const tokenFile = path.join(tokenDir, "hook.token");
    lab = await givenLabCluster(NET, {
      replicas: 1,
      propagationDelayMs: 300,
      deployment: {
        proxy: { host: `127.0.${NET}.1`, port: 0 },
        podFirstHost: `127.0.${NET}.41`,
        replicas: 2,
        ebb: { url: new URL(ebb.apiUrl).origin, fleet: "lab-deploy", tokenFile },
      },
    });
    await registerLabDeploy(ebb.prisma, lab);
    const res = await api("/tokens", {
      method: "POST",
      body: JSON.stringify({ name: "drain-hook", scope: "read", expiresInDays: 1 }),
    });
    expect(res.status).toBe(201);
    await writeFile(tokenFile, ((await res.json()) as { token: string }).token, { mode: 0o600 });
  });
  afterAll(async () => {
    await lab?.cleanup();
    await ebb?.cleanup();
    if (tokenDir) await rm(tokenDir, { recursive: true, force: true });
  });

  it("When kubectl scales a pod away, Then its hook's report is listed on the fleet, attributed to the hook's token", async () => {
    const before = lab.deployment!.pods().map((p) => p.name);
    const run = await kubectl(lab.kubeconfigPath, path.join(lab.dir, "kube"), [
      "scale",
      "deployment",
      lab.deployment!.name,
      "--replicas=1",
    ]);
    expect(run.stderr).toBe("");
    let items: { pod: string; reason: string; lateConnections: number }[] = [];
    await waitFor(
      async () => {
        const res = await api("/fleets/lab-deploy/terminations");
        items = ((await res.json()) as { items: typeof items }).items;
        return items.length > 0;
      },
      { timeoutMs: 15_000, what: "a termination listed on lab-deploy" },
    );
    expect(before).toContain(items[0]!.pod);
    expect(items[0]).toMatchObject({ reason: "drained", lateConnections: 0 });
    const audit = await api("/audit?action=pod.termination&fleet=lab-deploy");
    const events = (
      (await audit.json()) as { items: { actorKind: string; actorName: string; resourceId: string }[] }
    ).items;
    expect(events[0]).toMatchObject({
      actorKind: "token",
      actorName: "drain-hook",
      resourceId: items[0]!.pod,
    });
  });

  it("refuses a report that is not one (naming the field) and a fleet that does not exist", async () => {
    const bad = await api("/fleets/lab-deploy/terminations", {
      method: "POST",
      body: JSON.stringify({ pod: "x", reason: "maybe" }),
    });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain("reason");
    const missing = await api("/fleets/nope/terminations");
    expect(missing.status).toBe(404);
  });
});
