import type { CreateTokenBody, CreateTokenResponse, TokenView } from "@ebb/contracts";
import { EbbError } from "@ebb/core";
import { Inject, Injectable } from "@nestjs/common";
import { DATABASE } from "../common/tokens.js";
import type { Database } from "../database/client.js";
import type { Prisma } from "../generated/prisma/client.js";
import { CredentialWatch } from "./credential-watch.js";
import { forbidden } from "./errors.js";
import { type Principal, scopeAllows } from "./principal.js";
import { createToken, revokeWithDescendants, SEEDED_TOKEN_NAME, tokenView } from "./tokens.js";

@Injectable()
export class TokensService {
  @Inject(DATABASE) private readonly database!: Database;
  @Inject(CredentialWatch) private readonly watch!: CredentialWatch;

  /** Admins see every token; others the tokens of their user (a token without a user: itself). */
  async list(caller: Principal): Promise<TokenView[]> {
    const tokens = await this.database.prisma.apiToken.findMany({
      where: visibleTo(caller),
      orderBy: { createdAt: "desc" },
    });
    return tokens.map(tokenView);
  }

  async create(caller: Principal, body: CreateTokenBody): Promise<CreateTokenResponse> {
    if (!scopeAllows(caller.scope, body.scope)) {
      throw forbidden(`a ${caller.scope} caller cannot create a ${body.scope} token`, {
        scope: body.scope,
        held: caller.scope,
      });
    }
    if (body.name === SEEDED_TOKEN_NAME) {
      throw new EbbError("param_invalid", `name: "${SEEDED_TOKEN_NAME}" is reserved for the seeded token`);
    }
    const fleets = [...new Set(body.fleets ?? [])];
    if (caller.fleets !== undefined) {
      // A fleet-limited token makes only tokens limited to (some of) its own fleets.
      const outside = fleets.filter((f) => !caller.fleets?.includes(f));
      if (outside.length > 0)
        throw forbidden(`this token may not act on fleet(s) ${outside.join(", ")}`, { fleets: outside });
      if (fleets.length === 0) fleets.push(...caller.fleets);
    }
    const prisma = this.database.prisma;
    let notAfter: Date | null = null;
    if (caller.kind === "token") {
      notAfter = (await prisma.apiToken.findUnique({ where: { id: caller.id } }))?.expiresAt ?? null;
    }
    const createdBy = caller.kind === "user" ? caller.id : (caller.ownerId ?? null);
    const { token, value } = await createToken(
      prisma,
      {
        name: body.name,
        scope: body.scope,
        expiresInDays: body.expiresInDays,
        createdBy,
        notAfter,
        parentTokenId: caller.kind === "token" ? caller.id : null,
        fleets,
      },
      new Date(),
    );
    return { ...tokenView(token), token: value };
  }

  /** Revocation works from the next request on, and closes the token's open streams at once. */
  async revoke(caller: Principal, id: string): Promise<void> {
    const prisma = this.database.prisma;
    const token = await prisma.apiToken.findFirst({ where: { AND: [{ id }, visibleTo(caller)] } });
    // Someone else's token answers like a missing one: ids of other users' tokens are not disclosed.
    if (token === null) throw new EbbError("not_found", `token ${id} does not exist`);
    // Also when it was revoked before: what it made may still be live.
    const revoked = await revokeWithDescendants(prisma, [id], new Date());
    for (const tokenId of revoked) this.watch.invalidate({ tokenId });
  }
}

function visibleTo(caller: Principal): Prisma.ApiTokenWhereInput {
  if (caller.scope === "admin" || caller.kind === "system") return {};
  if (caller.kind === "user") return { createdBy: caller.id };
  if (caller.ownerId !== undefined) return { OR: [{ createdBy: caller.ownerId }, { id: caller.id }] };
  return { id: caller.id };
}
