import type { CreateUserBody, UpdateUserBody, UserView } from "@ebb/contracts";
import { EbbError } from "@ebb/core";
import { Inject, Injectable } from "@nestjs/common";
import { DATABASE } from "../common/tokens.js";
import type { Database } from "../database/client.js";
import type { User } from "../generated/prisma/client.js";
import { CredentialWatch } from "./credential-watch.js";
import { hashPassword } from "./passwords.js";
import { scopeAllows } from "./principal.js";
import { createUser, otherEnabledAdmins } from "./users.js";

export function userView(user: User): UserView {
  return {
    id: user.id,
    username: user.username,
    role: user.role as UserView["role"],
    createdAt: user.createdAt.toISOString(),
    disabledAt: user.disabledAt?.toISOString() ?? null,
  };
}

@Injectable()
export class UsersService {
  @Inject(DATABASE) private readonly database!: Database;
  @Inject(CredentialWatch) private readonly watch!: CredentialWatch;

  async list(): Promise<UserView[]> {
    const users = await this.database.prisma.user.findMany({ orderBy: { username: "asc" } });
    return users.map(userView);
  }

  async create(body: CreateUserBody): Promise<UserView> {
    return userView(await createUser(this.database.prisma, body));
  }

  /**
   * A new password or disabling ends the user's sessions; a lower role lowers their tokens too (see
   * tokenPrincipal), so their open streams close. The last enabled admin can be neither demoted nor disabled.
   */
  async update(id: string, body: UpdateUserBody): Promise<UserView> {
    const passwordHash = body.password === undefined ? undefined : await hashPassword(body.password);
    const { user, ended } = await this.database.prisma.$transaction(async (tx) => {
      const current = await tx.user.findUnique({ where: { id } });
      if (current === null) throw new EbbError("not_found", `user ${id} does not exist`);
      const demoted = body.role !== undefined && body.role !== "admin";
      const disabling = body.disabled === true && current.disabledAt === null;
      if (current.role === "admin" && (demoted || disabling) && (await otherEnabledAdmins(tx, id)) === 0) {
        throw new EbbError("conflict", `user ${current.username} is the last enabled admin`);
      }
      const user = await tx.user.update({
        where: { id },
        data: {
          ...(body.role === undefined ? {} : { role: body.role }),
          ...(passwordHash === undefined ? {} : { passwordHash }),
          ...(body.disabled === undefined
            ? {}
            : { disabledAt: body.disabled ? (current.disabledAt ?? new Date()) : null }),
        },
      });
      const ended =
        passwordHash !== undefined ||
        disabling ||
        (body.role !== undefined && !scopeAllows(body.role, current.role as typeof body.role));
      if (passwordHash !== undefined || disabling) await tx.session.deleteMany({ where: { userId: id } });
      return { user, ended };
    });
    if (ended) this.watch.invalidate({ userId: id });
    return userView(user);
  }

  /** Deletes the user with their sessions and the tokens they created. */
  async remove(id: string): Promise<void> {
    await this.database.prisma.$transaction(async (tx) => {
      const current = await tx.user.findUnique({ where: { id } });
      if (current === null) throw new EbbError("not_found", `user ${id} does not exist`);
      if (
        current.role === "admin" &&
        current.disabledAt === null &&
        (await otherEnabledAdmins(tx, id)) === 0
      ) {
        throw new EbbError("conflict", `user ${current.username} is the last enabled admin`);
      }
      await tx.user.delete({ where: { id } });
    });
    this.watch.invalidate({ userId: id });
  }
}
