import { SOAK_FLEETS, SOAK_PROFILES, type SoakProfileName } from "./soak.js";

export interface SoakEnv {
  rollouts: number;
  fleets: string[];
  timeScale: number;
  propagationDelayMs: number;
  seed: number;
  maxGapMs: number;
  backToBackShare: number;
  profiles: SoakProfileName[];
  parallel: boolean;
  untilMs?: number;
}

/**
 * The soak's knobs, from the environment (`npm run bench:soak`): a bad value is refused naming the variable.
 *   SOAK_N (50)             consecutive rollouts per fleet
 *   SOAK_FLEETS             lab,lab-pods,lab-haproxy,lab-deploy (a fleet Ebb refuses to roll is skipped)
 *   SOAK_TIME_SCALE (0.05)  the lab's time scale (device checks, pod probes, preStop, grace)
 *   SOAK_PROPAGATION_MS     the service proxies' lag (real ms; default 500)
 *   SOAK_SEED               the gaps' seed (default: random, printed)
 *   SOAK_GAP_MAX_MS (10000) random gaps are uniform in [0, this]
 *   SOAK_BACK_TO_BACK (0.5) the share of rollouts started the moment the previous one finished
 *   SOAK_PROFILES           steady,burst,idle
 *   SOAK_PARALLEL (false)   fleets at the same time (on 2 cores, three fleets' 64 back-to-back clients at
 *                           once saturate the machine into client timeouts that say nothing about a drain)
 *   SOAK_UNTIL              an ISO time after which no rollout starts (a run that must end by a deadline)
 */
export function parseSoakEnv(env: Record<string, string | undefined>, random = Math.random): SoakEnv {
  const num = (name: string, def: number, ok: (n: number) => boolean, rule: string): number => {
    const raw = env[name]?.trim();
    if (raw === undefined || raw === "") return def;
    const n = Number(raw);
    if (!Number.isFinite(n) || !ok(n)) throw new Error(`${name}: ${rule} (got ${JSON.stringify(raw)})`);
    return n;
  };
  const list = (name: string, def: readonly string[], known: readonly string[]): string[] => {
    const raw = env[name]?.trim();
    if (!raw) return [...def];
    const items = raw
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
    const bad = items.filter((s) => !known.includes(s));
    if (bad.length || items.length === 0)
      throw new Error(`${name}: unknown ${bad.join(", ") || "(empty)"} (known: ${known.join(", ")})`);
    return items;
  };
  const parallel = env.SOAK_PARALLEL?.trim();
  if (parallel && !["true", "false"].includes(parallel))
    throw new Error(`SOAK_PARALLEL: true or false (got ${JSON.stringify(parallel)})`);
  const until = env.SOAK_UNTIL?.trim();
  const untilMs = until ? Date.parse(until) : undefined;
  if (untilMs !== undefined && !Number.isFinite(untilMs))
    throw new Error(`SOAK_UNTIL: an ISO time (got ${JSON.stringify(until)})`);
  return {
    ...(untilMs !== undefined ? { untilMs } : {}),
    rollouts: num("SOAK_N", 50, (n) => Number.isInteger(n) && n >= 1, "an integer >= 1"),
    fleets: list("SOAK_FLEETS", Object.keys(SOAK_FLEETS), Object.keys(SOAK_FLEETS)),
    timeScale: num("SOAK_TIME_SCALE", 0.05, (n) => n >= 0.05 && n <= 1, "a number in [0.05, 1]"),
    propagationDelayMs: num(
      "SOAK_PROPAGATION_MS",
      500,
      (n) => Number.isInteger(n) && n >= 0,
      "an integer >= 0",
    ),
    seed: num(
      "SOAK_SEED",
      Math.floor(random() * 2 ** 31),
      (n) => Number.isInteger(n) && n >= 0,
      "an integer >= 0",
    ),
    maxGapMs: num("SOAK_GAP_MAX_MS", 10_000, (n) => Number.isInteger(n) && n >= 0, "an integer >= 0"),
    backToBackShare: num("SOAK_BACK_TO_BACK", 0.5, (n) => n >= 0 && n <= 1, "a number in [0, 1]"),
    profiles: list("SOAK_PROFILES", SOAK_PROFILES, SOAK_PROFILES) as SoakProfileName[],
    parallel: parallel === "true",
  };
}
