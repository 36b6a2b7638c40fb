/**
 * `api` and `worker` are two roles of one app: `api` serves HTTP (controllers, SSE), `worker` runs the
 * queue processors and the reconciler, `all` does both in one process (the lab, a single host).
 */
export const ROLES = ["all", "api", "worker"] as const;
export type Role = (typeof ROLES)[number];

export function servesHttp(role: Role): boolean {
  return role === "all" || role === "api";
}

export function runsWorkers(role: Role): boolean {
  return role === "all" || role === "worker";
}
