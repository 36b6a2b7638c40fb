import { bootstrap, featureModules, parseConfig, type RunningApp } from "@ebb/api";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, givenEbb, type RunningEbb } from "../support/ebb.js";
import { createRollout, type Lab, untilTerminal } from "../support/rollouts.js";
import { givenLab } from "../support/world.js";
import { launchBrowser, logIn, newContext, screenshot } from "./support/browser.js";
import { ensureDashboardBuilt, type RunningDashboard, startDashboard } from "./support/dashboard.js";

// issue 15 §1: with no worker connected, the dashboard says so on every page, and a rollout's page says it
// waits for a worker instead of looking stuck; both go once a worker connects. An API-only Ebb (EBB_ROLE=api),
// then a worker-only one on the same Redis and database.

const NET = 85;
const OPERATOR = { username: "operator", password: "operator-password-1", role: "admin" } as const;

let lab: Lab;
let ebb: RunningEbb;
let worker: RunningApp | undefined;
let dashboard: RunningDashboard;
let browser: Browser;

beforeAll(async () => {
  await ensureDashboardBuilt();
  lab = await givenLab(NET, { vms: 1 });
  ebb = await givenEbb(lab, NET, { EBB_ROLE: "api" });
  const created = await api(ebb, "POST", "/users", OPERATOR);
  if (created.status !== 201) throw new Error(`POST /users answered ${created.status}`);
  dashboard = await startDashboard(`127.0.${NET}.1`, ebb.apiUrl);
  browser = await launchBrowser();
}, 12 * 60_000);

afterAll(async () => {
  await browser?.close();
  await dashboard?.stop();
  await worker?.close();
  await ebb?.cleanup();
  await lab?.cleanup();
});

describe("the dashboard without a worker", () => {
  it("shows a banner and a rollout waiting for a worker, both gone once one connects", async () => {
    // Given an operator on the dashboard of an Ebb with no worker
    const context = await newContext(browser, dashboard.url);
    const page = await context.newPage();
    await page.goto("/login");
    await logIn(page, OPERATOR.username, OPERATOR.password);
    await page.getByTestId("no-worker-banner").waitFor({ timeout: 15_000 });
    expect(await page.getByTestId("no-worker-banner").textContent()).toContain("No worker is connected");

    // When a rollout is created, its page says it waits for a worker
    const id = await createRollout(ebb, { fleet: "lab", version: "2.0.0", runbook: "l4-drain" });
    await page.goto(`/rollouts/${id}`);
    await page.getByTestId("waiting-for-worker").waitFor({ timeout: 15_000 });
    await screenshot(page, "rollout-waiting-for-worker");

    // When a worker connects, the rollout runs and both notices go
    const config = parseConfig({
      EBB_ROLE: "worker",
      REDIS_URL: ebb.app.redisUrl,
      EBB_DATA_DIR: `/tmp/ebb-no-worker-${process.pid}`,
      EBB_METRICS_PORT: "off",
      EBB_LOG_LEVEL: "warn",
    });
    worker = await bootstrap(config, {
      database: { prisma: ebb.prisma, kind: "pglite", close: async () => {} },
      modules: featureModules(config, process.env),
      logger: false,
    });
    expect((await untilTerminal(ebb, id, 60_000)).status).toBe("succeeded");
    await page.getByTestId("waiting-for-worker").waitFor({ state: "detached", timeout: 15_000 });
    await page.getByTestId("no-worker-banner").waitFor({ state: "detached", timeout: 15_000 });
  });
});
