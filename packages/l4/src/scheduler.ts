import type { SchedulerName } from "./config.js";
import type { RealServer } from "./real-server.js";

/** Picks the real server for a new flow among the bound ones (never called with an unbound server). */
export type Scheduler = (clientIp: string, bound: readonly RealServer[]) => RealServer | undefined;

export function createScheduler(name: SchedulerName): Scheduler {
  switch (name) {
    case "roundRobin":
      return roundRobin;
    case "leastConnections":
      return leastConnections();
    case "sourceHash":
      return sourceHash;
  }
}

/**
 * nginx's smooth weighted round robin: weights 1 and 3 give B A B B rather than A B B B, so a burst of new
 * flows is spread as evenly as the weights allow.
 */
const roundRobin: Scheduler = (_ip, bound) => {
  let total = 0;
  let best: RealServer | undefined;
  for (const s of bound) {
    s.rrCurrent += s.weight;
    total += s.weight;
    if (!best || s.rrCurrent > best.rrCurrent) best = s;
  }
  if (best) best.rrCurrent -= total;
  return best;
};

/** Fewest session entries per unit of weight; ties rotate so equal servers share a burst. */
function leastConnections(): Scheduler {
  let turn = 0;
  return (_ip, bound) => {
    const n = bound.length;
    if (n === 0) return undefined;
    turn = (turn + 1) % n;
    let best: RealServer | undefined;
    let bestLoad = Number.POSITIVE_INFINITY;
    for (let i = 0; i < n; i++) {
      const s = bound[(turn + i) % n]!;
      const load = s.counters.sessionsActive / s.weight;
      if (load < bestLoad) {
        best = s;
        bestLoad = load;
      }
    }
    return best;
  };
}

/**
 * Weighted rendezvous hashing on the client IP: a client keeps its server as long as that server is bound,
 * and when one server leaves only its own clients move.
 */
const sourceHash: Scheduler = (ip, bound) => {
  let best: RealServer | undefined;
  let bestScore = Number.NEGATIVE_INFINITY;
  for (const s of bound) {
    // u in (0, 1); -w / ln(u) is the weighted rendezvous score.
    const u = (hash32(`${ip}|${s.name}`) + 0.5) / 4294967296;
    const score = -s.weight / Math.log(u);
    if (score > bestScore) {
      best = s;
      bestScore = score;
    }
  }
  return best;
};

/** FNV-1a with a murmur3 finaliser, so near-identical inputs (127.0.2.100 vs .101) spread well. */
function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
