import { run } from "./main.js";

// The only place that touches process: run() is a function of argv and environment, tested in-process.
process.exitCode = await run(process.argv.slice(2), {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  env: process.env,
});
