import type { Db } from "../database/client.js";
import { forbidden } from "./errors.js";
import type { AuthenticatedRequest, Principal } from "./principal.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The fleet a mutating request acts on, from the route alone: `:name` under /fleets, `:id` under
 * /rollouts (the rollout's fleet), or a body's `fleet` (creating or previewing a rollout). Undefined
 * when the request names no fleet (tokens, users, runbooks).
 */
async function fleetOfRequest(db: Db, req: AuthenticatedRequest): Promise<string | undefined> {
  const r = req as AuthenticatedRequest & {
    params?: Record<string, string>;
    body?: unknown;
    route?: { path?: unknown };
  };
  const path = typeof r.route?.path === "string" ? r.route.path : "";
  const params = r.params ?? {};
  if (/\/fleets\/:name\b/.test(path) && params.name !== undefined) return params.name;
  if (/\/rollouts\/:id\b/.test(path) && params.id !== undefined) {
    if (!UUID.test(params.id)) return undefined;
    const row = await db.rollout.findUnique({
      where: { id: params.id },
      select: { fleet: { select: { name: true } } },
    });
    return row?.fleet.name;
  }
  const body = r.body as { fleet?: unknown } | undefined;
  return typeof body?.fleet === "string" ? body.fleet : undefined;
}

/**
 * Per-fleet tokens: a CI token made for fleet `web` starts, pauses, aborts, retries and approves rollouts
 * of `web` only. Reads stay open to its scope. Principals without a fleet list are not limited.
 */
export async function checkFleetScope(
  db: Db,
  req: AuthenticatedRequest,
  principal: Principal,
): Promise<void> {
  if (principal.fleets === undefined || req.method === "GET" || req.method === "HEAD") return;
  const fleet = await fleetOfRequest(db, req);
  if (fleet !== undefined && !principal.fleets.includes(fleet)) {
    throw forbidden(`the token ${principal.name} may not act on fleet ${fleet}`, {
      fleet,
      allowed: principal.fleets,
    });
  }
}
