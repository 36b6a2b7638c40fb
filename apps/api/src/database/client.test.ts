import { spawnSync } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { freePort, waitFor } from "@ebb/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { type EmptyTestDatabase, type TestDatabase, testDatabases } from "../../test-support/database.js";
import { openDatabase, secretsSafeUrl } from "./client.js";
import { connectSql } from "./connect-sql.js";
import { runMigrateCommand } from "./migrate-command.js";
import { DATA_DIR_LOCK_FILE, DataDirInUseError } from "./pglite-data-dir.js";

describe("secretsSafeUrl", () => {
  it("drops the password of a URL and keeps everything else", () => {
    expect(secretsSafeUrl("postgresql://ebb:s3cr%40t@db.internal:6543/ebb?sslmode=require")).toBe(
      "postgresql://ebb@db.internal:6543/ebb?sslmode=require",
    );
    expect(secretsSafeUrl("postgres://db/ebb?user=ebb&password=s3cret")).toBe(
      "postgres://db/ebb?user=ebb&password=***",
    );
    expect(secretsSafeUrl("postgresql://postgres@127.0.0.1:5432/postgres")).toBe(
      "postgresql://postgres@127.0.0.1:5432/postgres",
    );
  });

  it("redacts libpq key/value strings too", () => {
    expect(secretsSafeUrl("host=db user=ebb password=s3cret dbname=ebb")).toBe(
      "host=db user=ebb password=*** dbname=ebb",
    );
    expect(secretsSafeUrl("host=db password='s3 cret' dbname=ebb")).toBe("host=db password=*** dbname=ebb");
  });
});

describe("openDatabase on an unreachable PostgreSQL", () => {
  it("fails with the URL in the message, without its password", async () => {
    const port = await freePort();
    const url = `postgresql://ebb:hunter2-secret@127.0.0.1:${port}/ebb`;
    const failure = openDatabase({ url, dataDir: "unused" });
    await expect(failure).rejects.toThrow(
      `cannot connect to PostgreSQL at postgresql://ebb@127.0.0.1:${port}/ebb`,
    );
    await expect(failure).rejects.toSatisfy((err: Error) => !err.message.includes("hunter2"));
    await expect(failure).rejects.toHaveProperty("cause.code", "ECONNREFUSED");
  });
});

describe.each(testDatabases())("openDatabase on $kind", (variant) => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });
  async function open(opts?: Parameters<typeof variant.open>[0]): Promise<TestDatabase> {
    const db = await variant.open(opts);
    cleanup.push(() => db.drop());
    return db;
  }
  async function empty(): Promise<EmptyTestDatabase> {
    const db = await variant.empty();
    cleanup.push(() => db.drop());
    return db;
  }

  it("returns a migrated client of the right kind; close() can be called twice", async () => {
    const lines: string[] = [];
    const db = await open({ log: (line) => lines.push(line) });
    expect(db.kind).toBe(variant.kind);
    expect(await db.prisma.fleet.count()).toBe(0);
    expect(lines.some((line) => line.startsWith("applied migration 0001_init"))).toBe(true);
    await db.close();
    await db.close();
    if (db.kind === "pglite") {
      await expect(db.prisma.fleet.count()).rejects.toThrow();
    } else {
      // Prisma would reconnect on a new query; what matters is that close() left no connection behind.
      const sql = await connectSql(db.config);
      try {
        // A backend leaves pg_stat_activity a moment after its client hung up.
        await waitFor(
          async () => {
            const { rows } = await sql.query<{ n: number }>(
              "SELECT count(*)::int AS n FROM pg_stat_activity " +
                "WHERE datname = current_database() AND pid <> pg_backend_pid()",
            );
            return rows[0]?.n === 0;
          },
          { timeoutMs: 3_000, what: "no connection left to the database after close()" },
        );
      } finally {
        await sql.close();
      }
    }
  });

  it("with migrate: false, leaves an empty database empty", async () => {
    const db = await open({ migrate: false });
    const rows = await db.prisma.$queryRaw<{ missing: boolean }[]>`
      SELECT to_regclass('public._ebb_migrations') IS NULL AND to_regclass('public.fleets') IS NULL AS missing`;
    expect(rows).toEqual([{ missing: true }]);
  });

  it("db:migrate applies, then reports the database up to date", async () => {
    const db = await empty();
    const out: string[] = [];
    const output = {
      log: (line: string) => out.push(line),
      error: (line: string) => out.push(`ERR ${line}`),
    };

    expect(await runMigrateCommand(db.config, output)).toBe(0);
    expect(out.some((line) => /^applied \d+: 0001_init(, |$)/.test(line))).toBe(true);
    out.length = 0;
    expect(await runMigrateCommand(db.config, output)).toBe(0);
    expect(out.at(-1)).toBe("database is up to date");
    expect(out.some((line) => line.startsWith("ERR"))).toBe(false);
  });

  it.runIf(variant.kind === "postgres")("logs the PostgreSQL URL without its password", async () => {
    const fresh = await empty();
    const url = new URL(fresh.config.url ?? "");
    // Trust authentication ignores a password, so one can be added to prove it never reaches a log line.
    if (!url.password) url.password = "never-logged-7f3a";
    const lines: string[] = [];
    const db = await openDatabase({ url: url.toString(), dataDir: "" }, { log: (line) => lines.push(line) });
    cleanup.push(() => db.close());
    const out: string[] = [];
    await runMigrateCommand(
      { url: url.toString(), dataDir: "" },
      { log: (l) => out.push(l), error: (l) => out.push(l) },
    );

    expect(lines.join("\n")).toContain(secretsSafeUrl(url.toString()));
    for (const line of [...lines, ...out]) expect(line).not.toContain(decodeURIComponent(url.password));
  });

  it.runIf(variant.kind === "pglite")(
    "keeps its data across close and reopen of the same folder",
    async () => {
      const db = await open();
      await db.prisma.fleet.create({
        data: { name: "lab", balancer: "l4", balancerConfig: { adminUrl: "x" } },
      });
      await db.close();

      const lines: string[] = [];
      const again = await openDatabase(db.config, { log: (line) => lines.push(line) });
      try {
        expect(await again.prisma.fleet.findUnique({ where: { name: "lab" } })).toMatchObject({
          balancer: "l4",
          balancerConfig: { adminUrl: "x" },
        });
        // Nothing re-applied: the tracking table persisted too.
        expect(lines.some((line) => line.startsWith("applied migration"))).toBe(false);
      } finally {
        await again.close();
      }
    },
  );

  it.runIf(variant.kind === "pglite")(
    "refuses a data folder that an open database holds, and takes over a lock left by a dead process",
    async () => {
      const db = await open();
      await expect(openDatabase(db.config)).rejects.toBeInstanceOf(DataDirInUseError);
      const out: string[] = [];
      expect(await runMigrateCommand(db.config, { log: () => {}, error: (line) => out.push(line) })).toBe(1);
      expect(out[0]).toMatch(
        /db:migrate failed: the PGlite data folder .* is in use by process \d+ \(this process\)/,
      );

      await db.close();
      const lockFile = path.join(db.config.dataDir, DATA_DIR_LOCK_FILE);
      const dead = spawnSync(process.execPath, ["-e", ""]).pid;
      await writeFile(lockFile, `${dead}\n`);
      const reopened = await openDatabase(db.config);
      expect(await readFile(lockFile, "utf8")).toBe(`${process.pid}\n`);
      await reopened.close();
      await expect(readFile(lockFile)).rejects.toMatchObject({ code: "ENOENT" });
    },
  );
});

describe("db:migrate against an unreachable PostgreSQL", () => {
  it("exits 1 with the reason, never printing the password", async () => {
    const port = await freePort();
    const out: string[] = [];
    const code = await runMigrateCommand(
      { url: `postgresql://ebb:hunter2-secret@127.0.0.1:${port}/ebb`, dataDir: "" },
      { log: (line) => out.push(line), error: (line) => out.push(line) },
    );
    expect(code).toBe(1);
    expect(out).toContain(`PostgreSQL at postgresql://ebb@127.0.0.1:${port}/ebb`);
    expect(out.some((line) => line.startsWith("db:migrate failed: cannot connect to PostgreSQL"))).toBe(true);
    expect(out.join("\n")).not.toContain("hunter2");
  });
});
