#!/usr/bin/env node
// `next build` of the dashboard, skipped when its last build is newer than every file it is built from
// (its own sources and @ebb/contracts): `npm test` and `npm start` run the build first, and an unchanged
// dashboard should not cost a minute each time. `--force` rebuilds anyway.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const dashboard = path.join(root, "apps/dashboard");
// Written at the end of a successful build (BUILD_ID comes earlier, before pages are generated).
const stamp = path.join(dashboard, ".next/prerender-manifest.json");

function newest(dir) {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === "node_modules" || entry.name === ".next" || entry.name.startsWith(".")) continue;
    const full = path.join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(full) : statSync(full).mtimeMs);
  }
  return latest;
}

const inputs = Math.max(newest(dashboard), newest(path.join(root, "packages/contracts/dist")));
if (!process.argv.includes("--force") && existsSync(stamp) && statSync(stamp).mtimeMs > inputs) {
  console.log("dashboard: up to date");
  process.exit(0);
}
const started = Date.now();
const result = spawnSync(process.execPath, [path.join(root, "node_modules/next/dist/bin/next"), "build"], {
  cwd: dashboard,
  stdio: "inherit",
  env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1" },
});
if (result.status !== 0) process.exit(result.status ?? 1);
console.log(`dashboard: built in ${Math.round((Date.now() - started) / 1000)} s`);
