import { LoadGenerator } from "./generator.js";
import type { LoadOptions, LoadReport } from "./types.js";

/** Runs the load for `durationMs` and resolves with the final report. */
export async function runLoad(opts: LoadOptions & { durationMs: number }): Promise<LoadReport> {
  const gen = new LoadGenerator(opts);
  gen.start();
  // The generator stops itself at durationMs; stop() is idempotent and yields that same report.
  return new Promise((resolve) => gen.once("end", resolve));
}
