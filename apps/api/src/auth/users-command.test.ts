import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { type EmptyTestDatabase, testDatabases } from "../../test-support/database.js";
import { openDatabase } from "../database/client.js";
import { verifyPassword } from "./passwords.js";
import { runUsersCommand } from "./users-command.js";

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function io(input: string) {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: {
      stdin: Readable.from([Buffer.from(input)]),
      log: (l: string) => out.push(l),
      error: (l: string) => err.push(l),
    },
  };
}

async function users(empty: EmptyTestDatabase) {
  const db = await openDatabase(empty.config, { migrate: false });
  try {
    return await db.prisma.user.findMany({ include: { sessions: true } });
  } finally {
    await db.close();
  }
}

describe.each(testDatabases())("main.js users on $kind", (variant) => {
  it("creates a user with the password from stdin, refuses a taken name and a weak password, resets a password", async () => {
    const empty = await variant.empty();
    cleanups.push(() => empty.drop());

    const created = io("a password from stdin\n");
    expect(await runUsersCommand(["create", "ops", "--role", "admin"], empty.config, created.io)).toBe(0);
    expect(created.out.join("\n")).toContain("created user ops (admin)");
    let [ops] = await users(empty);
    expect(ops).toMatchObject({ username: "ops", role: "admin", disabledAt: null });
    expect(await verifyPassword("a password from stdin", ops!.passwordHash)).toBe(true);

    const again = io("a password from stdin");
    expect(await runUsersCommand(["create", "ops", "--role=read"], empty.config, again.io)).toBe(1);
    expect(again.err.join("\n")).toMatch(/username "ops" is taken/);

    const weak = io("short\n");
    expect(await runUsersCommand(["create", "dev"], empty.config, weak.io)).toBe(2);
    expect(weak.err.join("\n")).toMatch(/password: must be at least 12/);
    expect(weak.err.join("\n")).not.toContain("short");

    const badRole = io("long enough password");
    expect(await runUsersCommand(["create", "dev", "--role", "root"], empty.config, badRole.io)).toBe(2);
    expect(badRole.err.join("\n")).toMatch(/--role: must be read, deploy or admin/);
    expect(await runUsersCommand(["drop", "dev"], empty.config, io("x").io)).toBe(2);

    const reset = io("the new password!\n");
    expect(await runUsersCommand(["set-password", "ops"], empty.config, reset.io)).toBe(0);
    [ops] = await users(empty);
    expect(await verifyPassword("the new password!", ops!.passwordHash)).toBe(true);
    expect(await runUsersCommand(["set-password", "nobody"], empty.config, io("the new password!").io)).toBe(
      1,
    );
  });
});

describe("node apps/api/dist/main.js users create", () => {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../..");
  const main = path.join(root, "apps/api/dist/main.js");

  // The built entry point: `npm test` builds first; a plain `vitest run` needs `npx tsc -b`.
  it.runIf(existsSync(main))(
    "reads the password from a pipe and creates the user in EBB_DATA_DIR's PGlite",
    async () => {
      const dataDir = await mkdtemp(path.join(tmpdir(), "ebb-users-cli-"));
      cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
      // An initialised PGlite folder (a copy of the shared template): initdb in the child takes seconds.
      const empty = await testDatabases()
        .find((v) => v.kind === "pglite")!
        .empty();
      await rename(empty.config.dataDir, path.join(dataDir, "pglite"));
      const child = spawn(process.execPath, [main, "users", "create", "root", "--role", "admin"], {
        env: { PATH: process.env.PATH ?? "", EBB_DATA_DIR: dataDir },
        stdio: ["pipe", "pipe", "pipe"],
      });
      let output = "";
      child.stdout.on("data", (d) => {
        output += String(d);
      });
      child.stderr.on("data", (d) => {
        output += String(d);
      });
      child.stdin.end("root's password 1\n");
      const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
      expect(code, output).toBe(0);
      expect(output).toContain("created user root (admin)");
      expect(output).not.toContain("root's password");

      const db = await openDatabase({ dataDir: path.join(dataDir, "pglite") }, { migrate: false });
      try {
        const user = await db.prisma.user.findUniqueOrThrow({ where: { username: "root" } });
        expect(user.role).toBe("admin");
        expect(await verifyPassword("root's password 1", user.passwordHash)).toBe(true);
      } finally {
        await db.close();
      }
    },
  );
});
