import type { ServerResponse } from "node:http";
import { type LoginBody, type LoginResponse, loginBodySchema, type MeResponse } from "@ebb/contracts";
import { isEbbError } from "@ebb/core";
import { Body, Controller, Get, HttpCode, Inject, Post, Req, Res, UseGuards } from "@nestjs/common";
import { clientAddressOf } from "../common/client-address.js";
import { CONFIG, DATABASE } from "../common/tokens.js";
import type { EbbConfig } from "../config/config.js";
import type { Database } from "../database/client.js";
import { Access } from "./access.js";
import { AuthService } from "./auth.service.js";
import { clearedSessionCookie, sessionCookie } from "./cookies.js";
import { LoginRequestGuard } from "./login-request.guard.js";
import type { AuthenticatedRequest, Principal } from "./principal.js";

/** /api/v1/auth: dashboard login and logout, and who the caller is. */
@Controller("auth")
export class AuthController {
  @Inject(AuthService) private readonly auth!: AuthService;
  @Inject(CONFIG) private readonly config!: EbbConfig;
  @Inject(DATABASE) private readonly database!: Database;

  @Post("login")
  @Access("public")
  @UseGuards(LoginRequestGuard)
  @HttpCode(200)
  async login(
    @Body({ schema: loginBodySchema }) body: LoginBody,
    @Req() req: AuthenticatedRequest,
    @Res({ passthrough: true }) res: ServerResponse,
  ): Promise<LoginResponse> {
    try {
      const { response, cookieValue, maxAgeSeconds, sessionId } = await this.auth.login(
        body,
        clientAddressOf(req, this.config.trustProxy) ?? "",
      );
      res.setHeader(
        "set-cookie",
        sessionCookie(cookieValue, maxAgeSeconds, { secure: this.config.cookieSecure }),
      );
      // For the audit: from here on the request is this user's.
      const { id, username, role } = response.user;
      req.principal = { kind: "user", id, name: username, scope: role, sessionId };
      return response;
    } catch (err) {
      if (isEbbError(err, "too_many_requests")) {
        const details = err.details as { retryAfterSeconds?: number } | undefined;
        res.setHeader("retry-after", String(details?.retryAfterSeconds ?? 60));
      }
      throw err;
    }
  }

  /** Ends the caller's session and clears the cookie; a token caller has no session and gets 204 too. */
  @Post("logout")
  @Access("read")
  @HttpCode(204)
  async logout(
    @Req() req: AuthenticatedRequest,
    @Res({ passthrough: true }) res: ServerResponse,
  ): Promise<void> {
    await this.auth.logout(req.principal?.sessionId);
    if (req.principal?.kind === "user") {
      res.setHeader("set-cookie", clearedSessionCookie({ secure: this.config.cookieSecure }));
    }
  }

  @Get("me")
  @Access("read")
  async me(@Req() req: AuthenticatedRequest): Promise<MeResponse> {
    const principal = req.principal as Principal;
    let csrfToken: string | null = null;
    if (principal.sessionId !== undefined) {
      const session = await this.database.prisma.session.findUnique({ where: { id: principal.sessionId } });
      csrfToken = session?.csrfToken ?? null;
    }
    const { kind, id, name, scope } = principal;
    return { principal: { kind, id, name, scope }, csrfToken };
  }
}
