import { parentPort, workerData } from "node:worker_threads";
import { LoadGenerator } from "../loadgen/generator.js";
import type { LoadOptions } from "../loadgen/types.js";

/**
 * The soak's load, on a thread of its own: the clients' event loop must not share one with Ebb, the L4
 * device and the service proxies (a client stalled by its neighbours is not the client issue 17 had, which
 * ran as its own process). Messages out: {type:"error"} per failed request, {type:"servers"} while
 * warming up, {type:"done"} with the reports after {type:"stop"} came in.
 */
interface Job {
  profiles: { profile: string; options: LoadOptions }[];
}

const job = workerData as Job;
const port = parentPort;
if (!port) throw new Error("load-worker: not a worker thread");
const gens = job.profiles.map(({ profile, options }) => {
  const gen = new LoadGenerator(options);
  gen.on("error", (s: { kind: string; message: string }) =>
    port.postMessage({ type: "error", atMs: Date.now(), kind: s.kind, message: s.message, profile }),
  );
  return { profile, gen };
});
for (const { gen } of gens) gen.start();
const servers = setInterval(() => {
  port.postMessage({
    type: "servers",
    byProfile: Object.fromEntries(
      gens.map(({ profile, gen }) => [profile, Object.keys(gen.snapshot().byServer)]),
    ),
  });
}, 200);
port.on("message", async (m: { type: string }) => {
  if (m.type !== "stop") return;
  clearInterval(servers);
  const reports = await Promise.all(
    gens.map(async ({ profile, gen }) => [profile, await gen.stop()] as const),
  );
  port.postMessage({
    type: "done",
    reports: Object.fromEntries(
      reports.map(([p, r]) => [p, { requests: r.requests, ok: r.ok, errors: r.errors }]),
    ),
  });
});
