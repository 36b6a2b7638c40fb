import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { Agent, get } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { haproxyAvailable, stopVm } from "@ebb/lab";
import { freePort, waitFor } from "@ebb/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kubectl } from "../../apps/lab/test-support/k8s.js";
import { pidsWithArg } from "../../packages/drivers/test-support/proc.js";

// What `npm start` runs (apps/lab/dist/main.js), as a user's script would see it: the VIP answers, the
// admin API lists the session of a keep-alive client, the API rolls the lab fleet with the defaults
// table's one request, Ctrl-C stops everything.

const root = path.resolve(import.meta.dirname, "../..");
let lab: ChildProcess;
let labDir: string;
let out = "";
let vip: string;
let admin: string;
let apiUrl: string;
let dashboardPort = 0;
let redisPort: number;
let k8sApi: string;
let haproxyVip: string;
let k8sProxy: string;

function getJson(url: string, agent?: Agent): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    get(url, agent ? { agent } : {}, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => {
        body += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(body) }));
    }).on("error", reject);
  });
}

beforeAll(async () => {
  labDir = await mkdtemp(path.join(tmpdir(), "ebb-start-"));
  const [vipPort, adminPort] = [await freePort("127.0.9.1"), await freePort("127.0.9.1")];
  const apiPort = await freePort("127.0.9.1");
  dashboardPort = await freePort("127.0.9.1");
  redisPort = await freePort("127.0.0.1");
  k8sApi = `127.0.9.1:${await freePort("127.0.9.1")}`;
  k8sProxy = `127.0.9.1:${await freePort("127.0.9.1")}`;
  haproxyVip = `127.0.9.1:${await freePort("127.0.9.1")}`;
  const deployProxy = `127.0.9.1:${await freePort("127.0.9.1")}`;
  vip = `http://127.0.9.1:${vipPort}`;
  admin = `http://127.0.9.1:${adminPort}`;
  apiUrl = `http://127.0.9.1:${apiPort}/api/v1`;
  lab = spawn(process.execPath, [path.join(root, "apps/lab/dist/main.js")], {
    cwd: root,
    env: {
      ...process.env,
      EBB_LAB_DIR: labDir,
      EBB_LAB_VMS: "2",
      EBB_LAB_VM_FIRST_HOST: "127.0.9.11",
      EBB_L4_VIP: `127.0.9.1:${vipPort}`,
      EBB_L4_ADMIN: `127.0.9.1:${adminPort}`,
      EBB_LAB_TIME_SCALE: "0.02",
      EBB_API_HOST: "127.0.9.1",
      EBB_API_PORT: String(apiPort),
      EBB_DATA_DIR: path.join(labDir, "ebb"),
      EBB_REDIS_PORT: String(redisPort),
      EBB_DASHBOARD_HOST: "127.0.9.1",
      EBB_DASHBOARD_PORT: String(dashboardPort),
      // The emulated cluster (lab-pods) in this test's range too, never on the lab defaults.
      EBB_K8S_API: k8sApi,
      EBB_K8S_PROXY: k8sProxy,
      EBB_K8S_POD_FIRST_HOST: "127.0.9.21",
      EBB_HAPROXY_VIP: haproxyVip,
      EBB_HAPROXY_VM_FIRST_HOST: "127.0.9.31",
      EBB_K8S_DEPLOY_PROXY: deployProxy,
      EBB_K8S_DEPLOY_FIRST_HOST: "127.0.9.41",
      // npm start makes its own admin token and password when none is given: the tests read them back.
      EBB_ADMIN_TOKEN: "",
      EBB_ADMIN_PASSWORD: "",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  lab.stdout!.on("data", (c: Buffer) => {
    out += c.toString();
  });
  lab.stderr!.on("data", (c: Buffer) => {
    out += c.toString();
  });
  await waitFor(
    () => {
      if (lab.exitCode !== null) throw new Error(`npm start exited with ${lab.exitCode}`);
      return out.includes("Ebb is up, with its lab.");
    },
    // The device, two VMs, the cluster with its StatefulSet and Deployment pods, HAProxy, Ebb and the
    // dashboard all start first: on a busy 2-core machine that is well over 30 s.
    { timeoutMs: 120_000, what: "the banner" },
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${out}`);
  });
}, 150_000);

afterAll(async () => {
  // Only when a test failed before Ctrl-C: leave no VM or embedded Redis behind for the next run.
  if (lab.exitCode === null) {
    lab.kill("SIGKILL");
    for (const vm of ["vm1", "vm2"]) await stopVm(path.join(labDir, "vms", vm), { signal: "SIGKILL" });
    // Pods run as lab VMs too, one directory per incarnation.
    const pods = path.join(labDir, "k8s", "pods");
    for (const pod of existsSync(pods) ? await readdir(pods) : []) {
      for (const vm of await readdir(path.join(pods, pod, "vms")).catch(() => [])) {
        await stopVm(path.join(pods, pod, "vms", vm), { signal: "SIGKILL" });
      }
    }
    for (const vm of ["vm1", "vm2", "vm3", "vm4"])
      await stopVm(path.join(labDir, "haproxy", "vms", vm), { signal: "SIGKILL" }).catch(() => {});
    for (const pid of pidsWithArg(path.join(labDir, "haproxy", "haproxy.cfg"))) process.kill(pid, "SIGKILL");
    spawnSync("redis-cli", ["-p", String(redisPort), "shutdown", "nosave"]);
  }
  await rm(labDir, { recursive: true, force: true });
});

describe("npm start (the lab)", () => {
  it.runIf(haproxyAvailable())(
    "runs a real HAProxy in front of four more VMs, registered as lab-haproxy",
    async () => {
      expect(out).toContain(`VIP (HAProxy)     http://${haproxyVip}`);
      expect(out).toContain('fleet "lab-haproxy"');
      expect(out).toContain(path.join(labDir, "haproxy", "admin.sock"));
      // A fresh connection per request: in TCP mode a kept-alive one would stay on one VM.
      const fresh = new Agent({ keepAlive: false });
      const hosts = new Set<string>();
      await waitFor(
        async () => {
          hosts.add(((await getJson(`http://${haproxyVip}/`, fresh)).body as { host: string }).host);
          return hosts.size === 4;
        },
        { what: "all four HAProxy VMs answering through its VIP" },
      );
    },
  );

  it.runIf(!haproxyAvailable())("says in one line how to install haproxy", () => {
    expect(out).toContain("apt-get install -y haproxy");
  });

  it("prints the VIP and admin URL, and the VIP answers with a VM's version and host", async () => {
    expect(out).toContain(vip);
    expect(out).toContain(admin);
    await waitFor(async () => Array.isArray((await getJson(`${admin}/servers`)).body), {
      what: "admin API",
    });
    const res = await waitFor(
      async () => {
        const r = await getJson(`${vip}/`);
        return r.status === 200 ? r : undefined;
      },
      { what: "a 200 through the VIP" },
    );
    expect(res.body).toMatchObject({ version: "1.0.0", host: expect.stringMatching(/^vm[12]$/) });
  });

  it("the admin API lists the session of a keep-alive client while it runs", async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      await getJson(`${vip}/`, agent);
      const sessions = (await getJson(`${admin}/sessions`)).body as { total: number; entries: unknown[] };
      expect(sessions.total).toBeGreaterThanOrEqual(1);
      expect(sessions.entries[0]).toMatchObject({ client: expect.stringMatching(/^127\.0\.\d+\.\d+:\d+$/) });
    } finally {
      agent.destroy();
    }
  });

  it("serves the dashboard and prints the credentials to log in with", async () => {
    const dashboard = `http://127.0.9.1:${dashboardPort}`;
    const line = new RegExp(`dashboard +${dashboard.replaceAll(".", "\\.")} +log in as (\\S+) / (\\S+)`).exec(
      out,
    );
    expect(line, out).not.toBeNull();
    const page = await fetch(`${dashboard}/login`);
    expect(page.status).toBe(200);
    const login = await fetch(`${dashboard}/api/v1/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: dashboard },
      body: JSON.stringify({ username: line![1], password: line![2] }),
    });
    expect(login.status, await login.clone().text()).toBe(200);
  });

  it("the API rolls the lab fleet with the one request of the defaults table", async () => {
    expect(out).toContain(apiUrl);
    const ADMIN_TOKEN = /API token +(ebb_lab_\S+)/.exec(out)?.[1];
    expect(ADMIN_TOKEN, out).toBeDefined();
    const res = await fetch(`${apiUrl}/rollouts`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_TOKEN}` },
      body: JSON.stringify({ fleet: "lab", version: "2.0.0", runbook: "l4-drain" }),
    });
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };
    const done = await waitFor(
      async () => {
        const r = (await (
          await fetch(`${apiUrl}/rollouts/${id}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
        ).json()) as { status: string };
        return ["succeeded", "failed", "aborted"].includes(r.status) ? r : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 200, what: "the rollout to finish" },
    );
    expect(done.status).toBe("succeeded");
    expect((await getJson(`${vip}/`)).body).toMatchObject({ version: "2.0.0" });
  });

  it("starts the emulated cluster: kubectl lists its 4 pods, and lab-pods is registered in Ebb", async () => {
    expect(out).toContain(`http://${k8sApi}`);
    expect(out).toContain(`http://${k8sProxy}`);
    const kubeconfig = /kubectl --kubeconfig (\S+) get pods/.exec(out)?.[1];
    expect(kubeconfig, out).toBe(path.join(labDir, "kubeconfig"));
    const listed = await kubectl(kubeconfig!, path.join(labDir, "kube-cache"), ["get", "pods", "-o", "json"]);
    expect(listed.stderr).toBe("");
    const pods = (JSON.parse(listed.stdout) as { items: { metadata: { name: string } }[] }).items;
    // The StatefulSet's pods (lab-deploy's Deployment has its own four beside them, named by their ReplicaSet).
    const names = pods.map((p) => p.metadata.name);
    expect(names.filter((n) => /^web-\d+$/.test(n)).sort()).toEqual(["web-0", "web-1", "web-2", "web-3"]);
    expect(names.length).toBe(8);
    // The Service answers through its proxy with a pod's version and name.
    expect((await getJson(`http://${k8sProxy}/`)).body).toMatchObject({
      version: "1.0.0",
      host: expect.stringMatching(/^web-\d$/),
    });
    const ADMIN_TOKEN = /API token +(ebb_lab_\S+)/.exec(out)?.[1];
    const fleet = (await (
      await fetch(`${apiUrl}/fleets/lab-pods`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
    ).json()) as { balancer: string; targets: { name: string; host: string }[] };
    expect(fleet.balancer).toBe("kubernetes");
    expect(fleet.targets.map((t) => [t.name, t.host])).toEqual([
      ["web-0", "127.0.9.21"],
      ["web-1", "127.0.9.22"],
      ["web-2", "127.0.9.23"],
      ["web-3", "127.0.9.24"],
    ]);
  });

  it("Ctrl-C stops Ebb, the device and every VM", async () => {
    const exited = new Promise<number | null>((resolve) => lab.once("exit", (code) => resolve(code)));
    lab.kill("SIGINT");
    expect(await exited).toBe(0);
    expect(existsSync(path.join(labDir, "vms/vm1/vm.pid"))).toBe(false);
    expect(existsSync(path.join(labDir, "vms/vm2/vm.pid"))).toBe(false);
    // and the cluster: its pods' directories are removed once their processes are gone.
    expect(await readdir(path.join(labDir, "k8s", "pods")).catch(() => [])).toEqual([]);
  });
});
