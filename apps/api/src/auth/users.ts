import { passwordSchema, usernameSchema } from "@ebb/contracts";
import { EbbError } from "@ebb/core";
import type { Db } from "../database/client.js";
import { Prisma, type User } from "../generated/prisma/client.js";
import { hashPassword } from "./passwords.js";
import type { Scope } from "./principal.js";

export interface NewUser {
  username: string;
  password: string;
  role: Scope;
}

/** Checks a username and a new password, naming the field that is wrong (the message never quotes a password). */
export function checkNewUser(user: { username: string; password: string }): void {
  const name = usernameSchema.safeParse(user.username);
  if (!name.success) throw new EbbError("param_invalid", `username: ${name.error.issues[0]?.message}`);
  const password = passwordSchema.safeParse(user.password);
  if (!password.success)
    throw new EbbError("param_invalid", `password: ${password.error.issues[0]?.message}`);
}

/** Creates a user; a taken username is a `conflict`. */
export async function createUser(db: Db, user: NewUser): Promise<User> {
  checkNewUser(user);
  const passwordHash = await hashPassword(user.password);
  try {
    return await db.user.create({ data: { username: user.username, passwordHash, role: user.role } });
  } catch (err) {
    if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === "P2002") {
      throw new EbbError("conflict", `username "${user.username}" is taken`, { cause: err });
    }
    throw err;
  }
}

/**
 * Creates the first admin when the database has no user yet; returns whether it did. There is no default
 * password: the caller supplies one (EBB_ADMIN_PASSWORD, or the lab launcher's generated one). Two
 * processes starting at once may both see no user: the unique username lets one of them win.
 */
export async function ensureFirstAdmin(
  db: Db,
  admin: { username: string; password: string },
): Promise<boolean> {
  checkNewUser(admin);
  if ((await db.user.count()) > 0) return false;
  try {
    await createUser(db, { ...admin, role: "admin" });
    return true;
  } catch (err) {
    if (err instanceof EbbError && err.code === "conflict") return false;
    throw err;
  }
}

/** Enabled admins other than `exceptId`: an admin may not remove the last way back in. */
export async function otherEnabledAdmins(db: Db, exceptId: string): Promise<number> {
  return db.user.count({ where: { role: "admin", disabledAt: null, id: { not: exceptId } } });
}
