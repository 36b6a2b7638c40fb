#!/usr/bin/env node
// Committed so that npm links the command at install time, before the TypeScript is built.
import { existsSync } from "node:fs";

const entry = new URL("../dist/main.js", import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write("ebb-drain-hook: not built yet; run `npm run build` first\n");
  process.exit(1);
}
await import(entry.href);
