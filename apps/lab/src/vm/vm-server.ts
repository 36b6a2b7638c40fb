import { writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { Socket } from "node:net";
import { drainIdleMs, readVmConfig } from "./config.js";
import { ConnectionTracker } from "./connections.js";
import { BackgroundJobs } from "./jobs.js";
import { JobJournal } from "./journal.js";
import { vmPaths } from "./layout.js";
import { errorFields, jsonLogger, type VmLogger } from "./log.js";
import { currentVersion, releaseFlags } from "./release.js";
import { createRoutes, MONITORING_PATHS } from "./routes.js";
import { GracefulStop } from "./shutdown.js";

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port }, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

/**
 * The lab VM's web server: nginx on a VM behind the L4 device, as far as draining is concerned. Runs until a
 * signal stops it; `exit` is process.exit in the real process.
 */
export async function runVmServer(
  dir: string,
  log: VmLogger = jsonLogger(),
  exit: (code: number) => void = (code) => process.exit(code),
): Promise<Server> {
  const paths = vmPaths(dir);
  const config = await readVmConfig(dir);
  const version = await currentVersion(dir);
  if (!version) throw new Error(`${paths.current}: no release deployed (run ebb-vm deploy <VERSION>)`);

  const journal = new JobJournal(paths.journal);
  const lostOnLastRun = journal.unfinished();
  if (lostOnLastRun.length > 0) {
    log.warn(
      `background jobs lost by the previous run (journaled start without done): ${lostOnLastRun.join(", ")}`,
      { lostOnLastRun },
    );
  }
  journal.compact();

  const server = createServer();
  const stop = new GracefulStop({ server, config, paths, log, exit });
  const tracker = new ConnectionTracker({
    lingerMs: config.drainLingerMs,
    trafficIdleMs: drainIdleMs(config),
    monitoringPaths: MONITORING_PATHS,
    log,
    onClosed: () => stop.settle(),
  });
  const jobs = new BackgroundJobs(journal, log, () => stop.settle());
  stop.watch(tracker, jobs);

  // Node closes an idle keep-alive connection after keepAliveTimeout: below the device's session aging, and
  // above the idle timeout of any pool in front (domain.md §2). headersTimeout only runs while a request's headers arrive (not between
  // requests), and requestTimeout must not be below it or Node refuses the pair.
  server.keepAliveTimeout = config.keepAliveTimeoutMs;
  server.headersTimeout = config.headersTimeoutMs ?? 60_000;
  server.requestTimeout = Math.max(300_000, server.headersTimeout);
  tracker.attach(server);
  server.on(
    "request",
    createRoutes({
      config,
      paths,
      version,
      startedAt: new Date().toISOString(),
      lostOnLastRun,
      tracker,
      jobs,
      log,
    }),
  );
  // Node routes every client socket error here (a reset, a malformed request): logged, answered if the
  // socket can still take it, never fatal to the server.
  server.on("clientError", (err: NodeJS.ErrnoException, socket) => {
    log.warn("client error", { conn: tracker.connId(socket as Socket), ...errorFields(err) });
    if (err.code === "ECONNRESET" || !socket.writable) {
      socket.destroy();
      return;
    }
    socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
  });

  await listen(server, config.host, config.port);
  writeFileSync(paths.pid, `${process.pid}\n`);
  log.info("listening", {
    name: config.name,
    address: `${config.host}:${config.port}`,
    version,
    pid: process.pid,
    keepAliveTimeoutMs: config.keepAliveTimeoutMs,
    faults: config.faults ?? {},
    release: releaseFlags(version),
  });
  server.on("error", (err) => log.error("server error", errorFields(err)));
  for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => stop.begin(signal));
  return server;
}
