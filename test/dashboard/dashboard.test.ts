import { AUDIT_TRANSITION_ACTIONS } from "@ebb/contracts";
import { L4Device } from "@ebb/l4";
import type { LoadGenerator } from "@ebb/lab";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, givenEbb, type RunningEbb } from "../support/ebb.js";
import {
  command,
  errorsOf,
  gatedDrainSource,
  type Lab,
  setFaults,
  startLoad,
  storeRunbook,
  untilTerminal,
} from "../support/rollouts.js";
import { givenLab } from "../support/world.js";
import { browserProblems, launchBrowser, logIn, newContext, screenshot } from "./support/browser.js";
import { ensureDashboardBuilt, type RunningDashboard, startDashboard } from "./support/dashboard.js";

// The dashboard in a real browser (Debian's chromium) against `next start`, a real Ebb and the lab world:
// what only a browser shows. Behaviour of the pieces is proven below the browser (engine and API tests,
// test/dashboard/unit for the views' logic).

const NET = 70;
const OPERATOR = { username: "operator", password: "operator-password-1", role: "admin" } as const;
const VIEWER = { username: "viewer", password: "viewer-password-12", role: "read" } as const;
const GATED = "l4-drain-gated";
/** A runbook written for Kubernetes fleets, with only steps a VM fleet could run too: the mismatch alone. */
const FOR_PODS = "pods-gated";
/** What the audit API records of a rollout's own progress (a rollback's link among them). */
const TRANSITIONS: readonly string[] = AUDIT_TRANSITION_ACTIONS;

let lab: Lab;
let ebb: RunningEbb;
let dashboard: RunningDashboard;
let browser: Browser;
let load: LoadGenerator | undefined;
/** The rollout the operator starts from the UI, looked at again by later tests. */
let rolledId: string | undefined;

async function createUser(user: { username: string; password: string; role: string }): Promise<void> {
  const res = await api(ebb, "POST", "/users", user);
  if (res.status !== 201) throw new Error(`POST /users answered ${res.status}: ${JSON.stringify(res.body)}`);
}

async function operatorPage(): Promise<{ context: BrowserContext; page: Page }> {
  const context = await newContext(browser, dashboard.url);
  const page = await context.newPage();
  await page.goto("/login");
  await logIn(page, OPERATOR.username, OPERATOR.password);
  return { context, page };
}

/** A status badge of the rollout page showing `status`, within the deadline. */
function rolloutStatus(page: Page, status: string, timeoutMs = 30_000): Promise<void> {
  return page
    .locator(`[data-testid="rollout-status"] [data-status="${status}"]`)
    .waitFor({ timeout: timeoutMs })
    .catch(async (err: Error) => {
      const shown = await page.locator('[data-testid="rollout-status"]').textContent();
      throw new Error(`rollout status ${status} not shown (shows "${shown}"): ${err.message}`);
    });
}

beforeAll(async () => {
  const buildMs = await ensureDashboardBuilt();
  if (buildMs > 0) console.log(`next build took ${(buildMs / 1_000).toFixed(1)} s`);
  lab = await givenLab(NET);
  ebb = await givenEbb(lab, NET);
  await createUser(OPERATOR);
  await createUser(VIEWER);
  await storeRunbook(ebb, GATED, gatedDrainSource(GATED));
  dashboard = await startDashboard(`127.0.${NET}.1`, ebb.apiUrl);
  browser = await launchBrowser();
}, 12 * 60_000);

afterAll(async () => {
  await browser?.close();
  await load?.stop();
  await dashboard?.stop();
  await ebb?.cleanup();
  await lab?.cleanup();
});

describe("the dashboard in a browser", () => {
  it("an operator logs in, rolls the lab fleet from the UI and watches it complete, traffic charted", async () => {
    // Given the lab fleet under keep-alive load, and an operator at the dashboard's front door
    load = await startLoad(lab);
    const context = await newContext(browser, dashboard.url);
    const page = await context.newPage();
    await page.goto("/fleets");
    await page.waitForURL(/\/login\?next=%2Ffleets/);
    await screenshot(page, "login");

    // When they log in
    await logIn(page, OPERATOR.username, OPERATOR.password);

    // Then they are back on the fleets page, as themselves, with every target live and Up
    await page.waitForURL(/\/fleets$/);
    await expect.poll(() => page.getByTestId("current-user").textContent()).toContain("operator");
    const lab1 = page.locator('[data-fleet="lab"]');
    for (const vm of ["vm1", "vm2", "vm3", "vm4"]) {
      await lab1.locator(`tr[data-target="${vm}"] [data-status="up"]`).waitFor({ timeout: 15_000 });
    }
    // a few live samples in, so the sparklines have something to draw
    const sparkline = page.locator('[data-fleet="lab"] .sparkline').first();
    await expect
      .poll(async () => Number(await sparkline.getAttribute("data-points")), { timeout: 15_000 })
      .toBeGreaterThanOrEqual(3);
    await screenshot(page, "fleets");

    // When they preview a rollout to 2.0.0 and start it
    await page.getByRole("link", { name: "New rollout" }).first().click();
    await page.waitForURL(/\/rollouts\/new/);
    await page.getByLabel("Fleet").selectOption("lab");
    await page.getByLabel("Runbook", { exact: true }).selectOption("l4-drain");
    await page.getByLabel("Version").fill("2.0.0");
    await page.getByRole("button", { name: "Preview" }).click();
    const plan = page.getByTestId("plan");
    await plan.waitFor({ timeout: 15_000 });
    expect(await plan.textContent()).toContain("Batch 1");
    expect(await page.getByTestId("expected-duration").textContent()).not.toBe("–");
    await screenshot(page, "new-rollout");
    await page.getByRole("button", { name: "Start rollout" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByRole("button", { name: "Start rollout" }).click();

    // Then the rollout page follows it live to success, with traffic samples charted per target
    await page.waitForURL(/\/rollouts\/[0-9a-f-]{36}$/, { timeout: 15_000 });
    rolledId = page.url().split("/").pop();
    await page.locator("#timeline-title").waitFor();
    await rolloutStatus(page, "succeeded", 90_000);
    const samples = await page.getByTestId("traffic-vm1").getAttribute("data-samples");
    expect(Number(samples)).toBeGreaterThan(0);
    // traffic still arriving after a health check failed is charted (in red): each target is out of
    // service for 1-2 s, over one or two 1 Hz samples, and keep-alive clients keep coming until the stop
    const afterFailed = await page
      .locator("[data-after-failed]")
      .evaluateAll((charts) => charts.map((c) => Number(c.getAttribute("data-after-failed"))));
    expect(afterFailed).toHaveLength(4);
    expect(afterFailed.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    await page.getByTestId("summary").waitFor();
    // the drain proof recorded by the worker, not what this page happened to sample
    expect(await page.getByTestId("client-errors").textContent()).toBe("0 across 4 drains");
    await screenshot(page, "rollout");

    // and the API agrees, and the clients behind the VIP saw no error
    const view = await api<{ status: string }>(ebb, "GET", `/rollouts/${rolledId}`);
    expect(view.body.status).toBe("succeeded");
    const report = await load.stop();
    load = undefined;
    const errors = errorsOf(report);
    expect(errors.count, errors.samples).toBe(0);
    expect(browserProblems(context)).toEqual([]);
    await context.close();
  }, 180_000);

  it("pause and resume a rollout from its page, approving each target's gate", async () => {
    // Given a rollout whose targets each stop at an approval gate, the operator on its page
    const created = await api<{ id: string }>(ebb, "POST", "/rollouts", {
      fleet: "lab",
      version: "3.0.0",
      runbook: GATED,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id;
    const { context, page } = await operatorPage();
    await page.goto(`/rollouts/${id}`);
    await page.getByRole("button", { name: "Approve vm1" }).waitFor({ timeout: 30_000 });

    // When they pause it
    await page.getByRole("button", { name: "Pause" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Pause" }).click();

    // Then the page and the API say paused, and resume is offered instead of pause
    await rolloutStatus(page, "paused");
    expect((await api<{ status: string }>(ebb, "GET", `/rollouts/${id}`)).body.status).toBe("paused");
    await page.getByRole("button", { name: "Resume" }).waitFor();
    expect(await page.getByRole("button", { name: "Pause" }).count()).toBe(0);
    await screenshot(page, "rollout-paused");

    // When they resume it and approve each target as it reaches the gate
    await page.getByRole("button", { name: "Resume" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Resume" }).click();
    await rolloutStatus(page, "running");
    for (const vm of ["vm1", "vm2", "vm3", "vm4"]) {
      await page.getByRole("button", { name: `Approve ${vm}` }).click({ timeout: 30_000 });
      await page.getByRole("dialog").getByRole("button", { name: "Approve" }).click();
      await page
        .getByRole("button", { name: `Approve ${vm}` })
        .waitFor({ state: "detached", timeout: 15_000 });
    }

    // Then it completes
    await rolloutStatus(page, "succeeded", 60_000);
    expect((await api<{ status: string }>(ebb, "GET", `/rollouts/${id}`)).body.status).toBe("succeeded");
    expect(browserProblems(context)).toEqual([]);
    await context.close();
  }, 180_000);

  it("rolls a finished rollout back from its page after a confirmation; each page links to the other", async () => {
    // Given the rollout the operator started from the UI, finished, on its page
    const { context, page } = await operatorPage();
    await page.goto(`/rollouts/${rolledId}`);
    await rolloutStatus(page, "succeeded");

    // When they roll it back and confirm
    await page.getByRole("button", { name: "Roll back" }).click();
    const dialog = page.getByRole("dialog");
    expect(await dialog.textContent()).toContain("back to the version it ran before");
    await dialog.getByRole("button", { name: "Roll back" }).click();

    // Then the page of the linked rollback rollout opens, names the rollout it rolls back, and succeeds
    await page.waitForURL(
      (url) => /\/rollouts\/[0-9a-f-]{36}$/.test(url.pathname) && !url.pathname.endsWith(rolledId!),
      {
        timeout: 15_000,
      },
    );
    const rollbackId = page.url().split("/").pop()!;
    await rolloutStatus(page, "succeeded", 90_000);
    await screenshot(page, "rollback");
    // and the original, one click away, ends rolled_back, linking to it, with no second rollback offered
    await page.getByTestId("rollback-of").click();
    await page.waitForURL(new RegExp(`${rolledId}$`));
    await rolloutStatus(page, "rolled_back");
    expect(await page.getByTestId("rollback").textContent()).toContain(rollbackId.slice(0, 8));
    expect(await page.getByRole("button", { name: "Roll back" }).count()).toBe(0);
    expect(browserProblems(context)).toEqual([]);
    await context.close();
  }, 120_000);

  it("the audit page shows the actions just taken, and the chain verifies", async () => {
    const { context, page } = await operatorPage();
    await page.goto("/audit");
    await page.getByTestId("audit-table").waitFor({ timeout: 15_000 });

    // When the operator filters on their own rollout commands
    await page.getByLabel("Actor").fill(OPERATOR.username);
    await page.getByLabel("Action").fill("rollout.*");
    await page.getByRole("button", { name: "Filter" }).click();

    // Then the create, pause, resume and approvals they just made are listed, and nothing by anyone else
    const table = page.getByTestId("audit-table");
    for (const action of ["rollout.create", "rollout.pause", "rollout.resume", "rollout.approve"]) {
      await table.locator(`tr[data-action="${action}"]`).first().waitFor({ timeout: 15_000 });
    }
    const actions = await table
      .locator("tbody tr")
      .evaluateAll((rows) => rows.map((r) => r.getAttribute("data-action")));
    expect(actions.every((a) => a?.startsWith("rollout."))).toBe(true);
    await expect.poll(() => page.getByTestId("audit-verification").textContent()).toContain("chain verified");
    await screenshot(page, "audit");
    expect(browserProblems(context)).toEqual([]);
    await context.close();
  }, 60_000);

  it("runbooks: versions, the YAML, and validation errors shown on their line", async () => {
    const { context, page } = await operatorPage();
    await page.goto("/runbooks");
    await page.getByRole("link", { name: "l4-drain", exact: true }).click();
    await page.waitForURL(/\/runbooks\/l4-drain$/);
    const source = page.getByTestId("source-view").first();
    await source.getByText("fail-health-check").first().waitFor({ timeout: 15_000 });

    // When an admin drafts a new version with a step type that does not exist
    await page.getByRole("button", { name: /New version from/ }).click();
    const editor = page.getByLabel("Runbook YAML");
    const yaml = await editor.inputValue();
    const broken = yaml.replace("type: balancer.awaitUnbound", "type: balancer.awaitUnbund");
    expect(broken).not.toBe(yaml);
    await editor.fill(broken);

    // Then the problem is shown on the line it names, and saving is not offered
    const line = broken.split("\n").findIndex((l) => l.includes("awaitUnbund")) + 1;
    await page
      .locator(`[data-testid="source-view"] li[data-line="${line}"] .issue`)
      .waitFor({ timeout: 15_000 });
    expect(await page.getByRole("button", { name: "Save new version" }).isDisabled()).toBe(true);
    await screenshot(page, "runbooks");
    expect(browserProblems(context)).toEqual([]);
    await context.close();
  }, 60_000);

  it("a read-only user sees no trigger or steering controls, and the API refuses them too", async () => {
    // Given a viewer logged in
    const context = await newContext(browser, dashboard.url);
    const page = await context.newPage();
    await page.goto("/login");
    await logIn(page, VIEWER.username, VIEWER.password);
    await page.waitForURL(/\/fleets$/);
    await page.locator('[data-fleet="lab"] tr[data-target="vm1"]').waitFor();

    // Then no way to start a rollout is offered
    await expect.poll(() => page.getByTestId("current-user").textContent()).toContain("read");
    expect(await page.getByRole("link", { name: "New rollout" }).count()).toBe(0);
    expect(await page.getByRole("link", { name: /^Roll / }).count()).toBe(0);

    // nor pause, resume, abort, retry or approve on a rollout
    expect(rolledId, "the rollout the first test started").toBeDefined();
    await page.goto(`/rollouts/${rolledId}`);
    await page.getByTestId("rollout-status").waitFor();
    expect(await page.getByRole("button", { name: /^(Pause|Resume|Abort|Retry|Approve)/ }).count()).toBe(0);
    await screenshot(page, "rollout-read-only");

    // and the rollouts list shows what was rolled, without a way to start one
    await page.getByRole("link", { name: "Rollouts", exact: true }).click();
    await page.locator(`a[href="/rollouts/${rolledId}"]`).waitFor({ timeout: 15_000 });
    expect(await page.getByRole("link", { name: "New rollout" }).count()).toBe(0);
    await screenshot(page, "rollouts");

    // and the API refuses a rollout from this session even with its CSRF token
    const me = await page.request.get("/api/v1/auth/me");
    const { csrfToken } = (await me.json()) as { csrfToken: string };
    const refused = await page.request.post("/api/v1/rollouts", {
      data: { fleet: "lab", version: "4.0.0", runbook: "l4-drain" },
      headers: { "x-csrf-token": csrfToken },
    });
    expect(refused.status()).toBe(403);
    expect(browserProblems(context)).toEqual([]);
    await context.close();
  }, 60_000);

  it("the audit page shows people's actions, each rollout's transitions folded under them, everything on demand", async () => {
    expect(rolledId, "the rollout the first test started").toBeDefined();
    const { context, page } = await operatorPage();
    await page.goto("/audit");
    const rows = page.locator('[data-testid="audit-table"] > tbody > tr[data-action]');
    const created = page.locator(
      `[data-testid="audit-table"] > tbody > tr[data-action="rollout.create"]:has(a[href="/rollouts/${rolledId}"])`,
    );

    // Then by default the people's actions are listed, none of the thousands of step transitions
    await created.waitFor({ timeout: 15_000 });
    const shown = await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-action")));
    expect(shown.filter((a) => TRANSITIONS.includes(a ?? ""))).toEqual([]);
    expect(shown).toContain("auth.login");

    // When the operator unfolds the creation of the rollout they ran from the UI
    await created.getByRole("button", { name: /Show the transitions after rollout.create/ }).click();

    // Then its transitions are listed under it, from its start to its success
    const folded = page.getByTestId(`transitions-${rolledId}`);
    await folded.locator("tr.transition").first().waitFor({ timeout: 15_000 });
    const transitions = await folded
      .locator("tr.transition")
      .evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-action")));
    expect(transitions).toContain("step.finished");
    expect(transitions).toContain("rollout.status");
    expect(transitions.every((a) => TRANSITIONS.includes(a ?? ""))).toBe(true);
    await screenshot(page, "audit-folded");

    // When they ask for everything, the transitions are rows of the list again
    await page.getByLabel("Show", { exact: true }).selectOption("all");
    await expect
      .poll(
        async () =>
          (await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-action")))).some((a) =>
            TRANSITIONS.includes(a ?? ""),
          ),
        { timeout: 15_000 },
      )
      .toBe(true);
    expect(await page.locator("button.fold").count()).toBe(0);
    await screenshot(page, "audit-everything");
    expect(browserProblems(context)).toEqual([]);
    await context.close();
  }, 60_000);

  it("the new-rollout form picks each fleet's default runbook; a runbook for another balancer blocks until forced", async () => {
    // Given a Kubernetes fleet beside the lab (registered only: nothing here previews it), and a runbook
    // written for Kubernetes fleets
    const pods = await api(ebb, "POST", "/fleets", {
      name: "lab-pods",
      balancer: "kubernetes",
      balancerConfig: {
        kubeconfigPath: "/nonexistent/kubeconfig",
        namespace: "default",
        workload: { kind: "StatefulSet", name: "web" },
        service: "web",
        propagationWindowMs: 2_500,
      },
    });
    expect(pods.status, JSON.stringify(pods.body)).toBe(201);
    await storeRunbook(
      ebb,
      FOR_PODS,
      gatedDrainSource(FOR_PODS).replace(/^balancer: l4$/m, "balancer: kubernetes"),
    );
    const { context, page } = await operatorPage();
    let forcedId: string | undefined;
    try {
      await page.goto("/rollouts/new");
      const fleet = page.getByLabel("Fleet");
      const runbook = page.getByLabel("Runbook", { exact: true });
      await fleet.locator('option[value="lab-pods"]').waitFor({ state: "attached", timeout: 15_000 });

      // When the operator chooses lab-pods, then lab
      await fleet.selectOption("lab-pods");
      // Then each time the runbook follows the fleet's default, as the API names it
      await expect.poll(() => runbook.inputValue()).toBe("k8s-pod-drain");
      await fleet.selectOption("lab");
      await expect.poll(() => runbook.inputValue()).toBe("l4-drain");

      // When they choose the Kubernetes runbook for the lab's VMs and preview it
      // (the field is a text input until the runbook list has loaded: wait for the list)
      await page.locator("select#runbook").waitFor({ timeout: 15_000 });
      await runbook.selectOption(FOR_PODS);
      await page.getByLabel("Version").fill("5.0.0");
      await page.getByRole("button", { name: "Preview" }).click();

      // Then the mismatch is an error and the rollout cannot start unless forced
      const error = page.locator(".finding-error", { hasText: "runbook_balancer_mismatch" });
      await error.waitFor({ timeout: 15_000 });
      expect(await error.textContent()).toContain(
        "written for a kubernetes balancer; this fleet is behind l4",
      );
      const start = page.getByRole("button", { name: "Start rollout" });
      expect(await start.isDisabled()).toBe(true);
      await screenshot(page, "new-rollout-mismatch");
      // and the API refuses it too without force
      const refused = await api(ebb, "POST", "/rollouts", {
        fleet: "lab",
        version: "5.0.0",
        runbook: FOR_PODS,
      });
      expect(refused.status).toBe(400);
      expect(JSON.stringify(refused.body)).toContain("runbook_balancer_mismatch");

      // When they tick the force box and start it
      await page.getByLabel("Run despite the preflight errors above").check();
      await start.click();
      await page.getByRole("dialog").getByRole("button", { name: "Start rollout" }).click();

      // Then the rollout was created, forced
      await page.waitForURL(/\/rollouts\/[0-9a-f-]{36}$/, { timeout: 15_000 });
      forcedId = page.url().split("/").pop();
      await page.getByTestId("rollout-status").waitFor();
      expect(browserProblems(context)).toEqual([]);
    } finally {
      await context.close();
      if (forcedId) {
        await command(ebb, forcedId, "abort");
        await untilTerminal(ebb, forcedId, 60_000);
      }
      await api(ebb, "DELETE", "/fleets/lab-pods");
    }
  }, 120_000);

  it("traffic charts keep four-digit counts whole on both axes", async () => {
    expect(rolledId, "the rollout the first test started").toBeDefined();
    const view = await api<{ targets: { name: string }[] }>(ebb, "GET", `/rollouts/${rolledId}`);
    const names = view.body.targets.map((t) => t.name);
    // Given a stream of samples with thousands of requests/s and sessions: the lab's own load is a few
    // hundred, so the browser is fed these samples in place of the rollout's event stream.
    const now = Date.now();
    const events = Array.from({ length: 8 }, (_, i) => {
      const sample = {
        at: new Date(now - (8 - i) * 1_000).toISOString(),
        fleet: "lab",
        targets: names.map((name, n) => ({
          name,
          state: "up",
          bound: true,
          version: "2.0.0",
          sessions: 1_500 + 300 * n + 10 * i,
          requestsPerSec: 1_200 + 1_100 * n + 40 * i,
          newSessionsPerSec: 0,
          resetsPerSec: 0,
        })),
      };
      return `event: traffic\ndata: ${JSON.stringify(sample)}\n\n`;
    });
    const { context, page } = await operatorPage();
    await page.route(`**/api/v1/rollouts/${rolledId}/events`, (route) =>
      route.fulfill({ status: 200, contentType: "text/event-stream", body: events.join("") }),
    );
    await page.goto(`/rollouts/${rolledId}`);
    const chart = page.getByTestId(`traffic-${names.at(-1)}`);
    await expect
      .poll(async () => Number(await chart.getAttribute("data-samples")), { timeout: 15_000 })
      .toBe(8);

    // Then every axis label is a short count (1.5k, 4k) and lies wholly inside its chart
    const readTicks = () =>
      page.locator("[data-testid^='traffic-'] svg.recharts-surface").evaluateAll((svgs) =>
        svgs.flatMap((svg) => {
          const box = svg.getBoundingClientRect();
          // Typed by shape: the tests compile without the DOM library.
          type Drawn = {
            textContent: string | null;
            getBoundingClientRect(): { left: number; right: number };
          };
          // recharts 3 draws tick labels in layers of their own, apart from their axis' group: the count
          // axes are the labels that are not clock times.
          const values = Array.from(
            svg.querySelectorAll(".recharts-cartesian-axis-tick-value") as ArrayLike<Drawn>,
          ).filter((t) => !(t.textContent ?? "").includes(":"));
          return values.map((t) => {
            const r = t.getBoundingClientRect();
            return {
              text: t.textContent ?? "",
              inside: r.left >= box.left - 0.5 && r.right <= box.right + 0.5,
            };
          });
        }),
      );
    // The charts measure their box before they draw their axes.
    await expect.poll(async () => (await readTicks()).length, { timeout: 15_000 }).toBeGreaterThan(0);
    const ticks = await readTicks();
    expect(ticks.length).toBeGreaterThan(0);
    expect(ticks.filter((t) => !t.inside)).toEqual([]);
    expect(ticks.map((t) => t.text).filter((t) => !/^\d+(\.\d)?k?$/.test(t))).toEqual([]);
    expect(ticks.some((t) => t.text.endsWith("k"))).toBe(true);
    await screenshot(page, "traffic-thousands");
    await context.close();
  }, 60_000);

  it("a fleet behind two balancer members shows each member's view of each target", async () => {
    // Given a second device in front of the lab's VMs and a fleet declaring both devices as its members
    const second = await L4Device.start({
      config: {
        vip: { host: `127.0.${NET}.2`, port: 0 },
        admin: { host: `127.0.${NET}.2`, port: 0 },
        timeScale: 0.02,
        healthCheck: { timeoutSeconds: 9 },
      },
      servers: lab.vms.map((vm) => ({ name: vm.name, host: vm.host, port: vm.port })),
    });
    try {
      const fleet = await api(ebb, "POST", "/fleets", {
        name: "lab-pair",
        balancer: "l4",
        balancerConfig: {
          members: [
            { name: "device-a", adminUrl: lab.device.adminUrl },
            { name: "device-b", adminUrl: second.adminUrl },
          ],
        },
        targets: lab.vms.map((vm) => ({ name: vm.name, host: vm.host, port: vm.port })),
      });
      expect(fleet.status, JSON.stringify(fleet.body)).toBe(201);
      // When device b alone takes vm1 out
      second.setAdminState("vm1", "disabled");

      // Then the fleet's row for vm1 shows the two members disagreeing, and vm2 up on both
      const { context, page } = await operatorPage();
      await page.goto("/fleets");
      const panel = page.locator('[data-fleet="lab-pair"]');
      await panel.waitFor({ timeout: 15_000 });
      if (!(await panel.locator("details").evaluate((d) => (d as unknown as { open: boolean }).open)))
        await panel.locator("summary").click();
      const vm1 = panel.locator('tr[data-target="vm1"]');
      await vm1.locator('li[data-member="device-b"][data-state="disabled"]').waitFor({ timeout: 15_000 });
      await vm1.locator('li[data-member="device-a"][data-state="up"]').waitFor({ timeout: 15_000 });
      expect(await vm1.getByRole("list", { name: "Balancer members' view of vm1" }).textContent()).toMatch(
        /device-a\s*Up.*device-b\s*Disabled/,
      );
      const vm2 = panel.locator('tr[data-target="vm2"]');
      for (const member of ["device-a", "device-b"])
        await vm2.locator(`li[data-member="${member}"][data-state="up"]`).waitFor({ timeout: 15_000 });
      await screenshot(page, "fleet-members");
      expect(browserProblems(context)).toEqual([]);
      await context.close();
    } finally {
      await second.stop();
    }
  }, 60_000);

  // Last: its rollout leaves vm4 out of service (its deploy failed), which the tests above must not see.
  it("a fleet held by a failed rollout shows a banner: the rollout, why, its targets, and a confirmed way out", async () => {
    // Given a fleet of vm4 alone whose rollout failed at vm4's deploy (the deploy command fails)
    const vm4 = lab.vms[3]!;
    const fleet = await api(ebb, "POST", "/fleets", {
      name: "held-ui",
      balancer: "l4",
      balancerConfig: { adminUrl: lab.device.adminUrl },
      targets: [
        {
          name: vm4.name,
          host: vm4.host,
          port: vm4.port,
          // The lab fleet's vm4 (how its commands reach the VM), not lab-pair's, which has no executor config
          executorConfig: (
            await ebb.prisma.target.findFirstOrThrow({ where: { name: vm4.name, fleet: { name: "lab" } } })
          ).executorConfig,
        },
      ],
    });
    expect(fleet.status, JSON.stringify(fleet.body)).toBe(201);
    await setFaults(lab, "vm4", { failDeploy: true });
    const created = await api<{ id: string }>(ebb, "POST", "/rollouts", {
      fleet: "held-ui",
      version: "7.0.0",
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id;
    expect((await untilTerminal(ebb, id)).status).toBe("failed");

    // When the operator opens the fleets page
    const { context, page } = await operatorPage();
    await page.goto("/fleets");

    // Then the fleet's banner names the rollout (a link to it), why it stopped and the target it holds
    const banner = page.locator(`[data-fleet="held-ui"] [data-held-by="${id}"]`);
    await banner.waitFor({ timeout: 15_000 });
    expect(await banner.textContent()).toMatch(
      /held by rollout .*failed at vm4 deploy.*vm4 failed \(balancer: /,
    );
    expect(await banner.getByRole("link").getAttribute("href")).toBe(`/rollouts/${id}`);
    await screenshot(page, "fleet-held");

    // and a new rollout of that fleet shows the same banner after its preview, with no way to force it
    // (--force does not pass a hold: the start would get 409)
    await page.goto("/rollouts/new");
    await page.getByLabel("Fleet").selectOption("held-ui");
    await page.getByLabel("Version").fill("7.0.1");
    await page.getByRole("button", { name: "Preview" }).click();
    await page.locator(`[data-held-by="${id}"]`).waitFor({ timeout: 15_000 });
    expect(await page.getByText("Run despite the preflight errors above").count()).toBe(0);
    expect(await page.getByRole("button", { name: "Start rollout" }).isDisabled()).toBe(true);
    await page.goto("/fleets");
    await banner.waitFor({ timeout: 15_000 });

    // When they abort it from the banner, through its confirmation
    await banner.getByRole("button", { name: "Abort rollout" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Abort rollout" }).click();

    // Then the rollout is aborted and the banner goes
    await banner.waitFor({ state: "detached", timeout: 15_000 });
    expect((await untilTerminal(ebb, id)).status).toBe("aborted");
    await setFaults(lab, "vm4", {});
    expect(browserProblems(context)).toEqual([]);
    await context.close();
  }, 90_000);
});
