import { ConfigError, loadConfig } from "./config.js";
import { jsonLog, startDrainHook } from "./hook.js";

// ebb-drain-hook: the pod's native sidecar (docs/drain-hook.md). Configuration from the environment only.
try {
  const hook = await startDrainHook(loadConfig(process.env));
  // The kubelet stops native sidecars after the app has exited: nothing left to hold.
  for (const sig of ["SIGTERM", "SIGINT"] as const) {
    process.once(sig, () => {
      jsonLog("exit", { signal: sig });
      void hook.close().then(() => process.exit(0));
    });
  }
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`ebb-drain-hook: ${err.message}\n`);
    process.exit(2);
  }
  throw err;
}
