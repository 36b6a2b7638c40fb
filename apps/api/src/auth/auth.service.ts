import type { IncomingMessage } from "node:http";
import type { LoginBody, LoginResponse } from "@ebb/contracts";
import { Inject, Injectable, Logger, type OnModuleInit } from "@nestjs/common";
import { CONFIG, DATABASE } from "../common/tokens.js";
import type { EbbConfig } from "../config/config.js";
import type { Database } from "../database/client.js";
import { readCookie, SESSION_COOKIE } from "./cookies.js";
import { CredentialWatch } from "./credential-watch.js";
import { type Authenticated, authenticateSession, authenticateToken, isScope } from "./credentials.js";
import { tooManyRequests, unauthenticated } from "./errors.js";
import { LoginThrottle } from "./login-throttle.js";
import { burnPasswordTime, verifyPassword } from "./passwords.js";
import { createSession } from "./sessions.js";
import { seedAdminToken } from "./tokens.js";
import { ensureFirstAdmin } from "./users.js";

/** What the request presented: nothing, a credential that works, or one that does not. */
export type Identification = { kind: "none" } | { kind: "valid"; auth: Authenticated } | { kind: "invalid" };

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** The same answer for an unknown user, a wrong password and a disabled user: no account enumeration. */
const BAD_LOGIN = "wrong username or password";

@Injectable()
export class AuthService implements OnModuleInit {
  private readonly logger = new Logger("auth");
  @Inject(CONFIG) private readonly config!: EbbConfig;
  @Inject(DATABASE) private readonly database!: Database;
  @Inject(LoginThrottle) private readonly throttle!: LoginThrottle;
  @Inject(CredentialWatch) private readonly watch!: CredentialWatch;

  /** At start (api/all roles): the EBB_ADMIN_TOKEN seed, and the first admin from EBB_ADMIN_PASSWORD. */
  async onModuleInit(): Promise<void> {
    const prisma = this.database.prisma;
    const seeded = await seedAdminToken(prisma, this.config.adminToken, new Date());
    if (seeded === "created") this.logger.log("EBB_ADMIN_TOKEN: seeded an admin API token from it");
    if (seeded === "revoked-kept") {
      this.logger.error(
        "EBB_ADMIN_TOKEN: this value was revoked through the API and stays revoked; set a new value",
      );
    }
    if (this.config.firstAdmin !== undefined) {
      if (await ensureFirstAdmin(prisma, this.config.firstAdmin)) {
        this.logger.log(
          `created the first admin user "${this.config.firstAdmin.username}" (EBB_ADMIN_PASSWORD)`,
        );
      }
    }
  }

  /**
   * Credentials in order: `Authorization: Bearer <token>`, else the session cookie. A header that is
   * present but not a bearer token is invalid (never silently replaced by the cookie).
   */
  async identify(req: IncomingMessage): Promise<Identification> {
    const now = new Date();
    const header = req.headers.authorization;
    if (header !== undefined) {
      const value = BEARER.exec(header)?.[1];
      const auth = value === undefined ? null : await authenticateToken(this.database.prisma, value, now);
      return auth === null ? { kind: "invalid" } : { kind: "valid", auth };
    }
    const cookie = readCookie(req, SESSION_COOKIE);
    if (cookie === undefined || cookie === "") return { kind: "none" };
    const auth = await authenticateSession(this.database.prisma, cookie, now);
    return auth === null ? { kind: "invalid" } : { kind: "valid", auth };
  }

  /** Checks the password (with throttling) and opens a session. */
  async login(
    body: LoginBody,
    clientIp: string,
  ): Promise<{ response: LoginResponse; cookieValue: string; maxAgeSeconds: number; sessionId: string }> {
    const username = body.username.toLowerCase();
    const wait = await this.throttle.begin(username, clientIp);
    if (wait > 0) {
      const seconds = Math.ceil(wait / 1000);
      throw tooManyRequests(`too many failed logins: try again in ${seconds} s`, seconds);
    }
    const prisma = this.database.prisma;
    const user = await prisma.user.findUnique({ where: { username } });
    let ok = false;
    if (user === null) await burnPasswordTime(body.password);
    else ok = await verifyPassword(body.password, user.passwordHash);
    if (user === null || !ok || user.disabledAt !== null || !isScope(user.role)) {
      throw unauthenticated(BAD_LOGIN);
    }
    await this.throttle.succeeded(username, clientIp);
    const now = new Date();
    const { session, cookieValue } = await createSession(prisma, user.id, now);
    return {
      response: {
        user: { id: user.id, username: user.username, role: user.role },
        csrfToken: session.csrfToken,
      },
      cookieValue,
      maxAgeSeconds: (session.expiresAt.getTime() - now.getTime()) / 1000,
      sessionId: session.id,
    };
  }

  /** Ends the session the request came with (a token caller has none: nothing to do). */
  async logout(sessionId: string | undefined): Promise<void> {
    if (sessionId === undefined) return;
    await this.database.prisma.session.deleteMany({ where: { id: sessionId } });
    this.watch.invalidate({ sessionId });
  }
}
