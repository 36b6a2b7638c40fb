#!/usr/bin/env node
import { runCtl } from "./cli.js";

// `ebb-vm`: the lab's `systemctl` for one VM. Runbook exec steps call it; see cli.ts for the commands.
runCtl(process.argv.slice(2), process.env).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`ebb-vm: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
