import { randomBytes } from "node:crypto";
import type { Db } from "../database/client.js";
import type { Session } from "../generated/prisma/client.js";
import { randomSecret, sha256Hex } from "./secrets.js";

/** A dashboard session lasts a working day, then the user logs in again (no sliding renewal). */
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;

/** Opens a session; the cookie value is in the result only (the row holds its sha256). */
export async function createSession(
  db: Db,
  userId: string,
  now: Date,
): Promise<{ session: Session; cookieValue: string }> {
  const cookieValue = randomSecret();
  // Expired rows of this user go with each login, so the table does not grow with every session ever.
  await db.session.deleteMany({ where: { userId, expiresAt: { lte: now } } });
  const session = await db.session.create({
    data: {
      userId,
      hash: sha256Hex(cookieValue),
      csrfToken: randomBytes(32).toString("base64url"),
      createdAt: now,
      lastSeenAt: now,
      expiresAt: new Date(now.getTime() + SESSION_TTL_MS),
    },
  });
  return { session, cookieValue };
}
