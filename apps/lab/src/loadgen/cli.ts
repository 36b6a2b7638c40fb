#!/usr/bin/env node
import { parseLoadArgs, USAGE, UsageError } from "./args.js";
import { LoadGenerator } from "./generator.js";
import type { LoadOptions } from "./types.js";

function writeLine(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

function main(): void {
  let opts: LoadOptions | "help";
  try {
    opts = parseLoadArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`ebb-load: ${err.message}\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  if (opts === "help") {
    process.stdout.write(`${USAGE}\n`);
    return;
  }

  const gen = new LoadGenerator(opts);
  gen.on("second", writeLine);
  gen.once("end", (report) => {
    writeLine(report);
    process.exitCode = report.ok === report.requests ? 0 : 1;
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  });

  let signalled = false;
  function onSignal(signal: NodeJS.Signals): void {
    // A second signal means "now": in-flight requests are abandoned (stop waits up to timeoutMs for them).
    if (signalled) process.exit(signal === "SIGINT" ? 130 : 143);
    signalled = true;
    void gen.stop();
  }
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  gen.start();
}

main();
