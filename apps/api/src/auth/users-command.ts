import type { Readable } from "node:stream";
import { isEbbError } from "@ebb/core";
import { type DatabaseConfig, openDatabase } from "../database/client.js";
import { isScope } from "./credentials.js";
import { hashPassword } from "./passwords.js";
import { checkNewUser, createUser } from "./users.js";

export const USERS_USAGE = [
  "usage: main.js users create <username> [--role read|deploy|admin]   (password on stdin)",
  "       main.js users set-password <username>                        (password on stdin; ends their sessions)",
].join("\n");

export interface UsersCommandIo {
  /** The password source: a pipe (`printf %s "$PW" | ...`) or a terminal (read without echo). */
  stdin: Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  log(line: string): void;
  error(line: string): void;
  /** Where the prompt goes when stdin is a terminal. */
  prompt?(text: string): void;
}

/**
 * `node apps/api/dist/main.js users ...`: accounts from the command line, for the first admin on a
 * server without EBB_ADMIN_PASSWORD and for a locked-out admin. The password never appears in argv (it
 * would be visible in `ps` and the shell history). Returns the exit code.
 */
export async function runUsersCommand(
  args: string[],
  database: DatabaseConfig,
  io: UsersCommandIo,
): Promise<number> {
  const [action, username, ...rest] = args;
  let role = "read";
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === "--role" && action === "create") role = rest[++i] ?? "";
    else if (rest[i]?.startsWith("--role=") && action === "create") role = rest[i]!.slice("--role=".length);
    else {
      io.error(`unknown argument "${rest[i]}"\n${USERS_USAGE}`);
      return 2;
    }
  }
  if ((action !== "create" && action !== "set-password") || username === undefined) {
    io.error(USERS_USAGE);
    return 2;
  }
  if (!isScope(role)) {
    io.error(`--role: must be read, deploy or admin (got "${role}")`);
    return 2;
  }

  let password: string;
  try {
    password = await readPassword(io);
    checkNewUser({ username, password });
  } catch (err) {
    io.error((err as Error).message);
    return 2;
  }

  let db: Awaited<ReturnType<typeof openDatabase>> | undefined;
  try {
    db = await openDatabase(database, { migrate: true });
    if (action === "create") {
      const user = await createUser(db.prisma, { username, password, role });
      io.log(`created user ${user.username} (${user.role})`);
    } else {
      const passwordHash = await hashPassword(password);
      const updated = await db.prisma.$transaction(async (tx) => {
        const found = await tx.user.updateMany({ where: { username }, data: { passwordHash } });
        if (found.count > 0) await tx.session.deleteMany({ where: { user: { username } } });
        return found.count;
      });
      if (updated === 0) {
        io.error(`no user "${username}"`);
        return 1;
      }
      io.log(`set the password of ${username}; their sessions are ended`);
    }
    return 0;
  } catch (err) {
    io.error(isEbbError(err) ? err.message : `users ${action} failed: ${(err as Error).message}`);
    return 1;
  } finally {
    await db?.close();
  }
}

/** The whole of stdin without its final newline, or one line typed without echo on a terminal. */
async function readPassword(io: UsersCommandIo): Promise<string> {
  const { stdin } = io;
  if (stdin.isTTY && stdin.setRawMode) return readHidden(io);
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  const text = Buffer.concat(chunks)
    .toString("utf8")
    .replace(/\r?\n$/, "");
  if (text === "")
    throw new Error('password: expected on stdin (e.g. printf %s "$PASSWORD" | ... users create ...)');
  return text;
}

function readHidden(io: UsersCommandIo): Promise<string> {
  const { stdin } = io;
  io.prompt?.("password: ");
  return new Promise((resolve, reject) => {
    let typed = "";
    const done = (err?: Error) => {
      stdin.setRawMode?.(false);
      stdin.pause();
      stdin.off("data", onData);
      io.prompt?.("\n");
      if (err) reject(err);
      else resolve(typed);
    };
    const onData = (data: Buffer | string) => {
      for (const ch of String(data)) {
        if (ch === "\r" || ch === "\n") return done();
        if (ch === "\u0003") return done(new Error("cancelled"));
        if (ch === "\u007f" || ch === "\b") typed = typed.slice(0, -1);
        else typed += ch;
      }
    };
    stdin.setRawMode?.(true);
    stdin.resume();
    stdin.on("data", onData);
  });
}
