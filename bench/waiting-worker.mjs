// One worker process of bench/waiting (EBB_ROLE=worker): started by the bench with its configuration in
// BENCH_WORKER_ENV, it answers the bench's questions over IPC: its CPU, RSS and engine counts, and every
// step.run job it ran (which target and step, when, with what result), so the bench can check that no two
// workers ever ran a check of one target at the same time.
import "reflect-metadata";
import { getHeapSpaceStatistics } from "node:v8";
import { bootstrap, ENGINE, featureModules, parseConfig } from "@ebb/api";

const env = JSON.parse(process.env.BENCH_WORKER_ENV ?? "{}");
const config = parseConfig(env, { cwd: env.EBB_DATA_DIR });
const ebb = await bootstrap(config, { modules: featureModules(config, process.env), logger: false });
const engine = ebb.app.get(ENGINE);

/** [target, stepIndex, startMs, endMs, result]: one row per step.run job this worker ran. */
const runs = [];
const process0 = engine.process.bind(engine);
engine.process = async (job) => {
  if (job.name !== "step.run") return process0(job);
  const start = Date.now();
  let result = "threw";
  try {
    const r = await process0(job);
    result = r.kind;
    return r;
  } finally {
    runs.push([job.data.target, job.data.stepIndex, start, Date.now(), result]);
  }
};

process.on("message", async (msg) => {
  switch (msg.type) {
    case "report": {
      const mem = process.memoryUsage();
      const space = (name) => getHeapSpaceStatistics().find((s) => s.space_name === name);
      process.send({
        type: "report",
        id: msg.id,
        cpu: process.cpuUsage(),
        rss: mem.rss,
        heapUsed: mem.heapUsed,
        heapTotal: mem.heapTotal,
        // Where the RSS goes: V8's young generation (committed, whatever it holds), the old generation's
        // live objects, and memory outside the JS heap (Buffers, WebAssembly memories).
        newSpace: space("new_space")?.space_size ?? 0,
        oldSpaceUsed: space("old_space")?.space_used_size ?? 0,
        external: mem.external,
        stats: { ...engine.stats },
        ...(msg.runs ? { runs } : {}),
      });
      break;
    }
    case "stop":
      await ebb.close();
      process.exit(0);
  }
});
process.send({ type: "ready" });
