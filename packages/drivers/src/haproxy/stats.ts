import { type BalancerTargetState, EbbError } from "@ebb/core";

/** One server line of `show stat`, the fields this driver reads. */
export interface ServerStat {
  backend: string;
  server: string;
  /** As HAProxy prints it: UP, DOWN, "UP 1/3" (failing, still up), "DOWN 1/2" (rising), DRAIN, MAINT, NOLB, "no check". */
  status: string;
  /** Current sessions on the server. */
  scur: number;
  /** Sessions since start (cumulative). */
  stot: number;
  /** HTTP requests (HTTP mode only; empty in TCP mode). */
  reqTot?: number;
  /** Failed checks (cumulative): its increments show the check interval a drain really sees. */
  chkfail: number;
  /** Seconds since the last status change. */
  lastchg?: number;
  /** L7OK, L7STS, L4CON, L4TOUT... (may carry a leading "* " while a check runs). */
  checkStatus: string;
  checkCode?: number;
  checkDesc: string;
  checkRise?: number;
  checkFall?: number;
  /** cli_abrt + srv_abrt: sessions aborted by either side. */
  aborts: number;
  /** Server-side connection errors and response errors: a client saw them as failed requests. */
  errors: number;
  /** From `show servers state`, read only when some server is DOWN (where `status` hides a DRAIN). */
  admin?: "ready" | "drain" | "maint";
}

/**
 * Parses `show stat` CSV (header `# pxname,svname,...`). Columns are looked up by name: HAProxy appends
 * columns across versions, so positions are not stable.
 */
export function parseShowStat(csv: string): ServerStat[] {
  const lines = csv.split("\n").filter((l) => l.length > 0);
  const header = lines[0];
  if (!header?.startsWith("# ")) {
    throw new EbbError("balancer_unavailable", `show stat: unexpected answer: ${csv.slice(0, 120)}`, {
      retryable: false,
    });
  }
  const columns = header.slice(2).split(",");
  const at = (name: string): number => columns.indexOf(name);
  const idx = {
    pxname: at("pxname"),
    svname: at("svname"),
    status: at("status"),
    scur: at("scur"),
    stot: at("stot"),
    reqTot: at("req_tot"),
    chkfail: at("chkfail"),
    lastchg: at("lastchg"),
    checkStatus: at("check_status"),
    checkCode: at("check_code"),
    checkDesc: at("check_desc"),
    checkRise: at("check_rise"),
    checkFall: at("check_fall"),
    cliAbrt: at("cli_abrt"),
    srvAbrt: at("srv_abrt"),
    econ: at("econ"),
    eresp: at("eresp"),
  };
  for (const name of ["pxname", "svname", "status", "scur", "stot"] as const) {
    if (idx[name] < 0) {
      throw new EbbError("balancer_unavailable", `show stat: no ${name} column in ${header.slice(0, 80)}`, {
        retryable: false,
      });
    }
  }
  const out: ServerStat[] = [];
  for (const line of lines.slice(1)) {
    const f = line.split(",");
    const server = f[idx.svname] ?? "";
    if (server === "FRONTEND" || server === "BACKEND") continue;
    const num = (i: number): number | undefined => {
      const v = i < 0 ? "" : (f[i] ?? "");
      return v === "" ? undefined : Number(v);
    };
    const stat: ServerStat = {
      backend: f[idx.pxname] ?? "",
      server,
      status: f[idx.status] ?? "",
      scur: num(idx.scur) ?? 0,
      stot: num(idx.stot) ?? 0,
      chkfail: num(idx.chkfail) ?? 0,
      checkStatus: (f[idx.checkStatus] ?? "").replace(/^\* /, ""),
      checkDesc: idx.checkDesc < 0 ? "" : (f[idx.checkDesc] ?? ""),
      aborts: (num(idx.cliAbrt) ?? 0) + (num(idx.srvAbrt) ?? 0),
      errors: (num(idx.econ) ?? 0) + (num(idx.eresp) ?? 0),
    };
    const optional = {
      reqTot: num(idx.reqTot),
      lastchg: num(idx.lastchg),
      checkCode: num(idx.checkCode),
      checkRise: num(idx.checkRise),
      checkFall: num(idx.checkFall),
    };
    for (const [k, v] of Object.entries(optional)) {
      if (v !== undefined && Number.isFinite(v)) (stat as unknown as Record<string, number>)[k] = v;
    }
    out.push(stat);
  }
  return out;
}

/** srv_admin_state bits (src/server.h): forced/inherited/config maintenance, forced/inherited drain... */
export const ADMIN_FMAINT = 0x01;
export const ADMIN_IMAINT = 0x02;
export const ADMIN_CMAINT = 0x04;
export const ADMIN_FDRAIN = 0x08;
export const ADMIN_IDRAIN = 0x10;
export const ADMIN_RMAINT = 0x20;
export const ADMIN_HMAINT = 0x40;
const ANY_MAINT = ADMIN_FMAINT | ADMIN_IMAINT | ADMIN_CMAINT | ADMIN_RMAINT | ADMIN_HMAINT;
const ANY_DRAIN = ADMIN_FDRAIN | ADMIN_IDRAIN;

/** One line of `show servers state <backend>`. */
export interface ServerState {
  backend: string;
  server: string;
  /** srv_op_state: 0 stopped, 1 starting, 2 running, 3 stopping. */
  opState: number;
  adminState: number;
  /** Admin state in words: what `set server ... state` last set (or the config). */
  admin: "ready" | "drain" | "maint";
  checkHealth: number;
}

/** Parses `show servers state` (version line "1", then a `# be_id be_name ...` header, space-separated). */
export function parseServersState(text: string): ServerState[] {
  const lines = text.split("\n").filter((l) => l.trim().length > 0);
  const header = lines.find((l) => l.startsWith("# "));
  if (!header) {
    throw new EbbError(
      "balancer_unavailable",
      `show servers state: unexpected answer: ${text.slice(0, 120)}`,
      {
        retryable: false,
      },
    );
  }
  const columns = header.slice(2).trim().split(/\s+/);
  const at = (name: string): number => columns.indexOf(name);
  const out: ServerState[] = [];
  for (const line of lines) {
    if (line.startsWith("#") || /^\d+$/.test(line.trim())) continue;
    const f = line.trim().split(/\s+/);
    const adminState = Number(f[at("srv_admin_state")] ?? 0);
    out.push({
      backend: f[at("be_name")] ?? "",
      server: f[at("srv_name")] ?? "",
      opState: Number(f[at("srv_op_state")] ?? 0),
      adminState,
      admin: adminState & ANY_MAINT ? "maint" : adminState & ANY_DRAIN ? "drain" : "ready",
      checkHealth: Number(f[at("srv_check_health")] ?? 0),
    });
  }
  return out;
}

/**
 * What HAProxy's status means for new sessions. DRAIN and MAINT get none (DRAIN still serves persistent
 * sessions: stick tables, cookies); DOWN gets none; "UP 1/3" is still UP (it is failing checks but not yet
 * `fall` of them); "DOWN 1/2" is still DOWN (rising, not yet `rise` successes); NOLB (http-check
 * disable-on-404) gets no new sessions.
 */
export function stateOfStatus(status: string): { state: BalancerTargetState; bound: boolean } {
  const word = status.split(" ")[0] ?? "";
  const transitioning = /\d+\/\d+/.test(status);
  switch (word) {
    case "UP":
      return transitioning ? { state: "suspect", bound: true } : { state: "up", bound: true };
    case "no":
      // "no check": no health check configured, HAProxy routes to it as long as it is not in maintenance.
      return { state: "up", bound: true };
    case "DRAIN":
    case "MAINT":
      return { state: "disabled", bound: false };
    case "DOWN":
    case "NOLB":
      return { state: "failed", bound: false };
    default:
      return { state: "unknown", bound: false };
  }
}
