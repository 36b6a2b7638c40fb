#!/usr/bin/env node
import { appendFileSync } from "node:fs";
import { runCtl } from "./cli.js";

// `ebb-vm`: the lab's `systemctl` for one VM. Runbook exec steps call it; see cli.ts for the commands.
// EBB_VM_COMMAND_LOG, when set, gets a JSON line as each command starts and ends: chaos tests use it to
// prove that no two commands ever ran on one VM at the same time, whatever happened to the workers.
const argv = process.argv.slice(2);
const commandLog = process.env.EBB_VM_COMMAND_LOG;
const note = (phase: "start" | "end", extra: Record<string, unknown> = {}): void => {
  if (!commandLog) return;
  const line = {
    phase,
    vm: process.env.EBB_TARGET_NAME ?? null,
    // Which rollout ran it: the fault campaign counts a non-idempotent command's launches per rollout.
    rollout: process.env.EBB_ROLLOUT_ID ?? null,
    argv,
    pid: process.pid,
    t: Date.now(),
    ...extra,
  };
  appendFileSync(commandLog, `${JSON.stringify(line)}\n`);
};
note("start");
runCtl(argv, process.env).then(
  (code) => {
    note("end", { code });
    process.exitCode = code;
  },
  (err: unknown) => {
    note("end", { code: 1 });
    process.stderr.write(`ebb-vm: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
