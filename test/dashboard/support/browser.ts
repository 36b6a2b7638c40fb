import { mkdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";

/** Debian's chromium, driven by playwright-core; screenshots land in test/dashboard/artifacts/ (CI keeps them). */

export const ARTIFACTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../artifacts");

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.EBB_CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

const problems = new WeakMap<BrowserContext, string[]>();

/**
 * A fresh browser profile (its own cookies) at a laptop's width. What goes wrong in its pages (uncaught
 * errors, React's console errors, a 5xx from the dashboard's origin) is kept for `browserProblems`.
 */
export async function newContext(browser: Browser, baseURL: string): Promise<BrowserContext> {
  const context = await browser.newContext({
    baseURL,
    viewport: { width: 1280, height: 800 },
    reducedMotion: "reduce",
  });
  const seen: string[] = [];
  problems.set(context, seen);
  context.on("page", (page) => watch(page, seen));
  return context;
}

// Chromium logs every non-2xx response as a console error. A 4xx is often the API's answer the page shows
// (401: no session, go to /login; 409: the rollout moved on); a 404 or a 5xx is recorded with its URL below.
const EXPECTED_CONSOLE = /^Failed to load resource: the server responded with a status of 4\d\d/;

function watch(page: Page, seen: string[]): void {
  page.on("pageerror", (err) => seen.push(`uncaught on ${page.url()}: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error" && !EXPECTED_CONSOLE.test(msg.text())) {
      seen.push(`console error on ${page.url()}: ${msg.text()}`);
    }
  });
  page.on("response", (res) => {
    if (res.status() >= 500 || res.status() === 404) {
      seen.push(`${res.status()} for ${res.request().method()} ${res.url()}`);
    }
  });
}

/** Everything that went wrong in the context's pages so far (empty when all is well). */
export function browserProblems(context: BrowserContext): string[] {
  return [...(problems.get(context) ?? [])];
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** The login form, as a person fills it in; resolves once the dashboard has left /login. */
export async function logIn(page: Page, username: string, password: string): Promise<void> {
  if (!page.url().includes("/login")) await page.goto("/login");
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL((url) => !url.pathname.startsWith("/login"), { timeout: 15_000 });
}
