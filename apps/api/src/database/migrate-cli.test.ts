import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { testDatabases } from "../../test-support/database.js";
import { parseConfig } from "../config/config.js";
import { connectSql } from "./connect-sql.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../..");
const cli = path.join(root, "apps/api/dist/database/migrate-cli.js");

function run(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; output: string }> {
  const child = spawn(command, args, { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (d) => {
    output += String(d);
  });
  child.stderr.on("data", (d) => {
    output += String(d);
  });
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, output })));
}

// The built entry point: `npm test` builds first; a plain `vitest run` needs `npx tsc -b`.
describe.runIf(existsSync(cli))("npm run db:migrate", () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn();
  });

  it("migrates the PGlite folder the app opens, <EBB_DATA_DIR>/pglite", async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), "ebb-migrate-cli-"));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    // An initialised, unmigrated PGlite folder where the app looks for it (initdb in the child takes seconds).
    const empty = await testDatabases()
      .find((v) => v.kind === "pglite")!
      .empty();
    await rename(empty.config.dataDir, path.join(dataDir, "pglite"));
    const env = { ...process.env, EBB_DATA_DIR: dataDir, DATABASE_URL: "" };

    const { code, output } = await run("npm", ["run", "--silent", "db:migrate"], env);

    expect(output).toContain(`PGlite in ${path.join(dataDir, "pglite")}`);
    expect(output).toMatch(/applied \d+: 0001_init/);
    expect(code).toBe(0);
    // Nothing but the app's folder: no second database beside it.
    expect(await readdir(dataDir)).toEqual(["pglite"]);
    const sql = await connectSql(parseConfig({ EBB_DATA_DIR: dataDir }).database);
    try {
      const { rows } = await sql.query<{ n: number }>("SELECT count(*)::int AS n FROM _ebb_migrations");
      expect(rows[0]!.n).toBeGreaterThan(0);
    } finally {
      await sql.close();
    }
  });

  it("--help prints the usage and exits 0 without opening a database", async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), "ebb-migrate-cli-"));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));

    const { code, output } = await run(process.execPath, [cli, "--help"], {
      ...process.env,
      EBB_DATA_DIR: dataDir,
      DATABASE_URL: "",
    });

    expect(output).toContain("Usage: npm run db:migrate");
    expect(code).toBe(0);
    expect(await readdir(dataDir)).toEqual([]);
  });

  it("a bad variable stops it with exit 2, naming the variable", async () => {
    const { code, output } = await run(process.execPath, [cli], {
      ...process.env,
      DATABASE_URL: "mysql://db/ebb",
    });

    expect(output).toContain("DATABASE_URL");
    expect(code).toBe(2);
  });
});
