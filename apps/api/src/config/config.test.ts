import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "./config.js";
import { describeConfig, redactUrl } from "./describe.js";

const cwd = "/srv/ebb";

function configError(env: Record<string, string>): ConfigError {
  try {
    parseConfig(env, { cwd });
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

describe("parseConfig", () => {
  it("applies the documented defaults", () => {
    const config = parseConfig({}, { cwd });
    expect(config).toEqual({
      role: "all",
      api: { host: "127.0.0.1", port: 4000 },
      database: { dataDir: "/srv/ebb/.ebb/pglite" },
      redis: { embeddedPort: 6390, dir: "/srv/ebb/.ebb/redis" },
      dataDir: "/srv/ebb/.ebb",
      worker: { concurrency: 50, reconcileIntervalMs: 10_000, lockDurationMs: 15_000 },
      lockDir: "/srv/ebb/.ebb/locks",
      cookieSecure: false,
      trustProxy: false,
      migrate: true,
      limits: {
        approvalTargetThreshold: 20,
        approvalTtlMs: 86_400_000,
        maxTargetsPerRollout: 1_000,
        rolloutsPerMinute: 30,
        maxBodyBytes: 512 * 1024,
      },
      webhooks: { attempts: 8, backoffMs: 5_000, timeoutMs: 10_000 },
      logLevel: "info",
      logFormat: "auto",
      metrics: { host: "127.0.0.1", port: 4001 },
    });
  });

  it("reads the metrics port (0: any free port, off) and turns tracing on only with an OTLP endpoint", () => {
    expect(parseConfig({ EBB_METRICS_PORT: "0" }, { cwd }).metrics.port).toBe(0);
    expect(parseConfig({ EBB_METRICS_PORT: "off" }, { cwd }).metrics.port).toBeNull();
    expect(() => parseConfig({ EBB_METRICS_PORT: "on" }, { cwd })).toThrow(/EBB_METRICS_PORT/);
    expect(parseConfig({}, { cwd }).tracing).toBeUndefined();
    expect(
      parseConfig(
        { OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318", OTEL_SERVICE_NAME: "ebb-eu" },
        { cwd },
      ).tracing,
    ).toEqual({ endpoint: "http://127.0.0.1:4318", serviceName: "ebb-eu" });
  });

  it("reads every variable", () => {
    const config = parseConfig(
      {
        EBB_ROLE: "worker",
        EBB_API_HOST: "0.0.0.0",
        EBB_API_PORT: "8000",
        DATABASE_URL: "postgres://ebb:pw@db:5432/ebb",
        EBB_DATA_DIR: "/var/lib/ebb",
        REDIS_URL: "redis://cache:6379/2",
        EBB_REDIS_PORT: "7000",
        EBB_WORKER_CONCURRENCY: "8",
        EBB_RECONCILE_INTERVAL_MS: "2500",
        EBB_LOCK_DIR: "run/locks",
        EBB_ADMIN_TOKEN: "s3cret-token-0123456",
        EBB_LOG_LEVEL: "debug",
      },
      { cwd },
    );
    expect(config).toMatchObject({
      role: "worker",
      api: { host: "0.0.0.0", port: 8000 },
      database: { url: "postgres://ebb:pw@db:5432/ebb", dataDir: "/var/lib/ebb/pglite" },
      redis: { url: "redis://cache:6379/2", embeddedPort: 7000, dir: "/var/lib/ebb/redis" },
      worker: { concurrency: 8, reconcileIntervalMs: 2500 },
      lockDir: "/srv/ebb/run/locks",
      adminToken: "s3cret-token-0123456",
      logLevel: "debug",
      logFormat: "auto",
    });
  });

  it("treats an empty variable as unset", () => {
    expect(parseConfig({ EBB_API_PORT: "", DATABASE_URL: " " }, { cwd })).toMatchObject({
      api: { port: 4000 },
      database: { dataDir: "/srv/ebb/.ebb/pglite" },
    });
  });

  it("returns a frozen object", () => {
    const config = parseConfig({}, { cwd });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.api)).toBe(true);
    expect(() => {
      (config.api as { port: number }).port = 1;
    }).toThrow(TypeError);
  });

  it.each([
    ["EBB_ROLE", "scheduler"],
    ["EBB_API_PORT", "http"],
    ["EBB_API_PORT", "70000"],
    ["EBB_REDIS_PORT", "0"],
    ["EBB_WORKER_CONCURRENCY", "2.5"],
    ["EBB_RECONCILE_INTERVAL_MS", "10"],
    ["EBB_LOG_LEVEL", "verbose"],
    ["DATABASE_URL", "mysql://db/ebb"],
    ["REDIS_URL", "cache:6379"],
    ["EBB_API_HOST", "local host"],
  ])("names %s in the error when it is %j", (variable, value) => {
    const err = configError({ [variable]: value });
    expect(err.issues.map((i) => i.variable)).toEqual([variable]);
    expect(err.message).toContain(`${variable}: `);
  });

  it("names every bad variable at once", () => {
    const err = configError({ EBB_API_PORT: "x", EBB_ROLE: "y" });
    expect(err.issues.map((i) => i.variable).sort()).toEqual(["EBB_API_PORT", "EBB_ROLE"]);
  });

  it("shows the bad value of a plain variable but never of a secret one", () => {
    expect(configError({ EBB_API_PORT: "http" }).message).toContain('"http"');
    const err = configError({ DATABASE_URL: "mysql://root:hunter2@db/ebb", EBB_ADMIN_TOKEN: "a b hunter3" });
    expect(err.message).toContain("DATABASE_URL");
    expect(err.message).toContain("EBB_ADMIN_TOKEN");
    expect(err.message).not.toContain("hunter");
  });
});

describe("describeConfig", () => {
  it("redacts URL passwords and the admin token", () => {
    const text = describeConfig(
      parseConfig(
        {
          DATABASE_URL: "postgres://ebb:db-pass@db:5432/ebb?sslpassword=ssl-pass&application_name=ebb",
          REDIS_URL: "redis://:redis-pass@cache:6379",
          EBB_ADMIN_TOKEN: "admin-secret-0123456",
        },
        { cwd },
      ),
    );
    expect(text).not.toMatch(/db-pass|ssl-pass|redis-pass|admin-secret/);
    expect(text).toContain("postgres://ebb:***@db:5432/ebb?sslpassword=***&application_name=ebb");
    expect(text).toContain("redis://:***@cache:6379");
    expect(text).toMatch(/admin token\s+set/);
  });

  it("describes the embedded defaults", () => {
    const text = describeConfig(parseConfig({}, { cwd }));
    expect(text).toContain("http://127.0.0.1:4000/api/v1");
    expect(text).toContain("embedded PGlite in /srv/ebb/.ebb/pglite");
    expect(text).toContain("embedded redis-server on 127.0.0.1:6390");
  });

  it("never echoes an unparseable URL", () => {
    expect(redactUrl("not a url with hunter2")).toBe("(unparseable URL)");
  });
});
