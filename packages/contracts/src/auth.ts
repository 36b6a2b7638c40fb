import { z } from "zod";

/**
 * Authentication and authorization bodies of /api/v1/auth, /users and /tokens. A scope (token) and a role
 * (user) are the same ladder: each includes the ones before it. Kept equal to the API's SCOPES by a test.
 */
export const AUTH_SCOPES = ["read", "deploy", "admin"] as const;
export const authScopeSchema = z.enum(AUTH_SCOPES);
export type AuthScope = z.infer<typeof authScopeSchema>;

/** Dashboard usernames: lower case, so "Alice" and "alice" cannot be two accounts. */
export const usernameSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z0-9._-]+$/, "must be 1-64 of a-z 0-9 . _ -");

export const PASSWORD_MIN_LENGTH = 12;
/** New passwords. The upper bound keeps the hash input (and the request body) small. */
export const passwordSchema = z
  .string()
  .min(PASSWORD_MIN_LENGTH, `must be at least ${PASSWORD_MIN_LENGTH} characters`)
  .max(1024);

const timestamp = z.iso.datetime({ offset: true });

/** `POST /auth/login`. The password is not checked against the length rules: old passwords still log in. */
export const loginBodySchema = z.strictObject({
  username: z.string().min(1).max(64),
  password: z.string().min(1).max(1024),
});
export type LoginBody = z.infer<typeof loginBodySchema>;

export const userSummarySchema = z.object({ id: z.uuid(), username: z.string(), role: authScopeSchema });
export type UserSummary = z.infer<typeof userSummarySchema>;

/** `200` of `POST /auth/login`, with the session cookie in Set-Cookie. */
export const loginResponseSchema = z.object({ user: userSummarySchema, csrfToken: z.string() });
export type LoginResponse = z.infer<typeof loginResponseSchema>;

/** `GET /auth/me`: who the API thinks the caller is; the CSRF token when the caller uses a session. */
export const meResponseSchema = z.object({
  principal: z.object({
    kind: z.enum(["user", "token", "system"]),
    id: z.string(),
    name: z.string(),
    scope: authScopeSchema,
  }),
  csrfToken: z.string().nullable(),
});
export type MeResponse = z.infer<typeof meResponseSchema>;

export const userViewSchema = userSummarySchema.extend({
  createdAt: timestamp,
  disabledAt: timestamp.nullable(),
});
export type UserView = z.infer<typeof userViewSchema>;

/** `POST /users` (admin). */
export const createUserBodySchema = z.strictObject({
  username: usernameSchema,
  password: passwordSchema,
  role: authScopeSchema,
});
export type CreateUserBody = z.infer<typeof createUserBodySchema>;

/** `PATCH /users/:id` (admin). A new password or disabling ends the user's sessions. */
export const updateUserBodySchema = z
  .strictObject({
    role: authScopeSchema.optional(),
    password: passwordSchema.optional(),
    disabled: z.boolean().optional(),
  })
  .refine((b) => Object.keys(b).length > 0, "give at least one of role, password, disabled");
export type UpdateUserBody = z.infer<typeof updateUserBodySchema>;

export const TOKEN_DEFAULT_EXPIRY_DAYS = 30;
export const TOKEN_MAX_EXPIRY_DAYS = 365;

/** `POST /tokens`: the scope may not exceed the caller's own. */
export const createTokenBodySchema = z.strictObject({
  name: z.string().trim().min(1).max(64),
  scope: authScopeSchema,
  expiresInDays: z.number().int().min(1).max(TOKEN_MAX_EXPIRY_DAYS).default(TOKEN_DEFAULT_EXPIRY_DAYS),
  /** The fleets the token may act on (start and command rollouts); absent or empty: every fleet. */
  fleets: z.array(z.string().trim().min(1).max(128)).max(100).optional(),
});
export type CreateTokenBody = z.output<typeof createTokenBodySchema>;
export type CreateTokenInput = z.input<typeof createTokenBodySchema>;

/** A token as lists show it: never its value. */
export const tokenViewSchema = z.object({
  id: z.uuid(),
  name: z.string(),
  prefix: z.string(),
  scope: authScopeSchema,
  createdBy: z.uuid().nullable(),
  createdAt: timestamp,
  expiresAt: timestamp.nullable(),
  lastUsedAt: timestamp.nullable(),
  revokedAt: timestamp.nullable(),
  /** Empty: every fleet. */
  fleets: z.array(z.string()),
});
export type TokenView = z.infer<typeof tokenViewSchema>;

/** `201` of `POST /tokens`: the only time the value is shown. */
export const createTokenResponseSchema = tokenViewSchema.extend({ token: z.string() });
export type CreateTokenResponse = z.infer<typeof createTokenResponseSchema>;
