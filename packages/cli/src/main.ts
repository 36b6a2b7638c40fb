import { readFileSync } from "node:fs";
import { type ParseArgsConfig, parseArgs } from "node:util";
import type {
  AuditHeadResponse,
  AuditPage,
  AuditVerifyResult,
  CreatedRolloutView,
  CreateTokenResponse,
  FleetView,
  RollbackCreatedView,
  RolloutDetail,
  RolloutNoticeView,
  RolloutPage,
  RolloutPreview,
  RunbookSummary,
} from "@ebb/contracts";
import { ApiError, EbbClient, EXIT, UsageError } from "./client.js";
import { LINT_USAGE, lint } from "./lint.js";
import { follow } from "./sse.js";

export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
  env: Readonly<Record<string, string | undefined>>;
  /** Time for log lines; tests pin it. */
  now?: () => Date;
}

/** Each command's usage: `ebb <command> --help` prints its entry, `ebb --help` all of them. */
const COMMANDS: Record<string, string> = {
  "rollout start": `ebb rollout start --fleet F --version V [--runbook R] [--batch N|N%] [--max-unavailable N|N%]
                  [--min-healthy N|N%] [--max-surge N|N%] [--param KEY=VALUE ...] [--idempotency-key K]
                  [--force] [--on-failure halt|rollback] [--wait [--timeout 30m]] [--json]
    Starts a rollout. With --wait, follows it and exits with its outcome; --timeout stops waiting (exit 6,
    the rollout goes on). --json: the created rollout as JSON; with --wait, NDJSON progress instead.
    --on-failure rollback: a failed target makes Ebb take the targets already moved back to their
    previous version (exit 7 once they are); default: the runbook's onFailure (halt).
    --max-surge (a Deployment fleet only): pods above its replicas, so replacements start while their
    targets drain; default 0.`,
  "rollout watch": `ebb rollout watch ID [--timeout 30m] [--json]
    Re-attaches to a rollout (a CI job that was restarted): its timeline until it is over, exit code as
    with --wait. --json: NDJSON progress.`,
  "rollout preview": `ebb rollout preview --fleet F --version V [--runbook R] [--batch N|N%] [--max-unavailable N|N%]
                    [--min-healthy N|N%] [--max-surge N|N%] [--param KEY=VALUE ...] [--json]
    The plan and the preflight findings of that rollout, creating nothing. Exit 1 when preflight errors
    would refuse it (without --force).`,
  "rollout status": `ebb rollout status ID [--json]
    The rollout and each target's step.`,
  "rollout list": `ebb rollout list [--fleet F] [--status S[,S]] [--limit N] [--json]`,
  "rollout pause": `ebb rollout pause ID`,
  "rollout resume": `ebb rollout resume ID`,
  "rollout abort": `ebb rollout abort ID [--reason TEXT]`,
  "rollout retry": `ebb rollout retry ID --target T`,
  "rollout skip": `ebb rollout skip ID --target T
    Counts the target's failed step as done and goes on: for a command whose outcome is unknown after a
    crash (outcome_unknown), once you have checked that its effect is in place.`,
  "rollout approve": `ebb rollout approve ID [--target T]`,
  "rollout rollback": `ebb rollout rollback ID [--wait [--timeout 30m]] [--json]
    Takes a finished rollout's targets back to the version they ran before it, as a new linked rollout
    (same runbook, batches and drains). With --wait, follows that rollout: exit 0 when it succeeded.`,
  fleets: `ebb fleets [--json]
    The fleets, their balancer and targets.`,
  runbooks: `ebb runbooks [--json]
    The runbooks, built-in and stored, with their latest version.`,
  lint: LINT_USAGE,
  audit: `ebb audit [--since 1h|ISO] [--until ISO] [--actor A] [--action A] [--fleet F] [--limit N] [--json]`,
  "audit head": `ebb audit head [--json]
    Prints the newest audit event as ID:HASH. Keep it outside Ebb (a ticket, CI output): a later
    \`ebb audit verify --anchor ID:HASH\` proves that event is still there, unchanged, with every event
    after it following it. Exit 1 while the history is empty.`,
  "audit verify": `ebb audit verify [--anchor ID:HASH] [--json]
    Checks the audit history's hash chain; exit 1 when it is broken. With --anchor (what \`ebb audit
    head\` printed earlier), checks only from that event on, and fails when it was changed or cut off.`,
  "token create": `ebb token create --name N --scope read|deploy|admin [--expires-in-days D] [--json]
    Prints the new token once.`,
};

const EXIT_CODES = `Exit codes: 0 succeeded (or done), 1 the rollout failed or ebb lint found errors (or the API refused
the request), 2 bad usage, 3 aborted, 4 the API cannot be reached, 5 not authorised (401/403: a missing,
wrong, expired or too narrow token), 6 --timeout elapsed before the rollout ended (it goes on), 7 the
rollout failed and was rolled back (its targets run their previous version).`;

const USAGE = `ebb: rollouts from CI (talks to the Ebb API at EBB_URL with the token in EBB_TOKEN)

${Object.values(COMMANDS)
  .map((u) => `  ${u.split("\n")[0]}`)
  .join("\n")}
  ebb --version

\`ebb <command> --help\` explains one command.
${EXIT_CODES}
Environment: EBB_URL (default http://127.0.0.1:4000), EBB_TOKEN.`;

/** Runs one `ebb` command; resolves with the process exit code. Never calls process.exit itself. */
export async function run(argv: readonly string[], io: Io): Promise<number> {
  try {
    return await dispatch(argv, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`ebb: ${err.message}\n\n${USAGE}`);
      return EXIT.usage;
    }
    if (err instanceof ApiError) {
      // A held fleet in one line: the API's message names who holds it, in what state, and the commands
      // that release it; the status and code say it is a hold, not a failed rollout.
      io.err(`ebb: ${err.message}${err.code === "fleet_held" ? ` (${err.status} ${err.code})` : ""}`);
      if (err.code === "invalid_request" && Array.isArray(err.details))
        for (const d of err.details as { path: string; message: string }[])
          io.err(`  ${d.path}: ${d.message}`);
      if (err.status === 0) return EXIT.unreachable;
      if (err.status === 401 || err.status === 403) return EXIT.unauthorised;
      return err.status === 400 && err.code === "invalid_request" ? EXIT.usage : EXIT.failed;
    }
    io.err(`ebb: ${err instanceof Error ? err.message : String(err)}`);
    return EXIT.failed;
  }
}

async function dispatch(argv: readonly string[], io: Io): Promise<number> {
  const [group, action, ...rest] = argv;
  if (group === undefined || group === "help" || group === "--help" || group === "-h") {
    io.out(USAGE);
    return group === undefined ? EXIT.usage : EXIT.ok;
  }
  if (group === "--version" || group === "-V" || group === "version") {
    io.out(version());
    return EXIT.ok;
  }
  // `--help` anywhere after a command: that command's usage, before anything is parsed or requested.
  if (argv.includes("--help") || argv.includes("-h")) {
    const two = `${group} ${action ?? ""}`.trim();
    // `ebb rollout --help`: every command of the group.
    const inGroup = Object.keys(COMMANDS).filter((name) => name.startsWith(`${group} `));
    // A one-word command takes positionals (`ebb lint shop --help`): its own usage.
    const usage =
      COMMANDS[two] ??
      (action?.startsWith("-") || action === undefined || inGroup.length === 0 ? COMMANDS[group] : undefined);
    if (usage === undefined && inGroup.length > 0 && (action === undefined || action.startsWith("-"))) {
      io.out(`${inGroup.map((name) => COMMANDS[name]).join("\n")}\n\n${EXIT_CODES}`);
      return EXIT.ok;
    }
    if (usage === undefined)
      throw new UsageError(
        `unknown command "${argv
          .filter((a) => !a.startsWith("-"))
          .slice(0, 2)
          .join(" ")}"`,
      );
    io.out(`${usage}\n\n${EXIT_CODES}`);
    return EXIT.ok;
  }
  const client = () =>
    new EbbClient({
      url: io.env.EBB_URL ?? "http://127.0.0.1:4000",
      ...(io.env.EBB_TOKEN ? { token: io.env.EBB_TOKEN } : {}),
    });
  switch (`${group} ${action ?? ""}`.trim()) {
    case "rollout start":
      return rolloutStart(client(), rest, io);
    case "rollout status":
      return rolloutStatus(client(), rest, io);
    case "rollout watch":
      return rolloutWatch(client(), rest, io);
    case "rollout preview":
      return rolloutPreview(client(), rest, io);
    case "rollout list":
      return rolloutList(client(), rest, io);
    case "rollout pause":
    case "rollout resume":
    case "rollout abort":
    case "rollout retry":
    case "rollout skip":
    case "rollout approve":
      return rolloutCommand(client(), action!, rest, io);
    case "rollout rollback":
      return rolloutRollback(client(), rest, io);
    case "audit verify":
      return auditVerify(client(), rest, io);
    case "audit head":
      return auditHead(client(), rest, io);
    case "token create":
      return tokenCreate(client(), rest, io);
    default:
      if (group === "audit") return auditList(client(), argv.slice(1), io);
      if (group === "fleets") return fleetsList(client(), argv.slice(1), io);
      if (group === "runbooks") return runbooksList(client(), argv.slice(1), io);
      if (group === "lint") return lint(client(), args(argv.slice(1), { json: { type: "boolean" } }), io);
      throw new UsageError(`unknown command "${argv.slice(0, 2).join(" ")}"`);
  }
}

type Options = NonNullable<ParseArgsConfig["options"]>;

function args<const T extends Options>(rest: readonly string[], options: T) {
  try {
    return parseArgs({ args: [...rest], options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === "") throw new UsageError(`${flag} is required`);
  return value;
}

function countOrPercent(value: string | undefined, flag: string): number | string | undefined {
  if (value === undefined) return undefined;
  if (/^\d+$/.test(value)) return Number(value);
  if (/^\d+(\.\d+)?%$/.test(value)) return value;
  throw new UsageError(`${flag}: "${value}" is not a count (2) or a percentage (25%)`);
}

function oneId(positionals: string[], what = "rollout id"): string {
  if (positionals.length !== 1) throw new UsageError(`expected one ${what}`);
  return positionals[0]!;
}

const ROLLOUT_OPTIONS = {
  fleet: { type: "string" },
  version: { type: "string" },
  runbook: { type: "string" },
  batch: { type: "string" },
  "max-unavailable": { type: "string" },
  "min-healthy": { type: "string" },
  "max-surge": { type: "string" },
  param: { type: "string", multiple: true },
  json: { type: "boolean" },
} as const;

/** The body of `POST /rollouts` (and of its preview) from the flags. */
function rolloutBody(values: {
  fleet?: string | undefined;
  version?: string | undefined;
  runbook?: string | undefined;
  batch?: string | undefined;
  "max-unavailable"?: string | undefined;
  "min-healthy"?: string | undefined;
  "max-surge"?: string | undefined;
  param?: string[] | undefined;
}) {
  const params: Record<string, string> = {};
  for (const p of values.param ?? []) {
    const eq = p.indexOf("=");
    if (eq <= 0) throw new UsageError(`--param: "${p}" is not KEY=VALUE`);
    params[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return {
    fleet: required(values.fleet, "--fleet"),
    version: required(values.version, "--version"),
    ...(values.runbook ? { runbook: values.runbook } : {}),
    ...optional("batchSize", countOrPercent(values.batch, "--batch")),
    ...optional("maxUnavailable", countOrPercent(values["max-unavailable"], "--max-unavailable")),
    ...optional("minHealthy", countOrPercent(values["min-healthy"], "--min-healthy")),
    ...optional("maxSurge", countOrPercent(values["max-surge"], "--max-surge")),
    ...(Object.keys(params).length > 0 ? { params } : {}),
  };
}

async function rolloutStart(client: EbbClient, rest: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = args(rest, {
    ...ROLLOUT_OPTIONS,
    "idempotency-key": { type: "string" },
    force: { type: "boolean" },
    "on-failure": { type: "string" },
    wait: { type: "boolean" },
    timeout: { type: "string" },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const timeoutMs = parseTimeout(values.timeout);
  if (timeoutMs !== undefined && !values.wait) throw new UsageError("--timeout applies to --wait");
  const onFailure = values["on-failure"];
  if (onFailure !== undefined && onFailure !== "halt" && onFailure !== "rollback")
    throw new UsageError(`--on-failure: "${onFailure}" is not halt or rollback`);
  const body = {
    ...rolloutBody(values),
    ...(values.force ? { force: true } : {}),
    ...(onFailure === undefined ? {} : { onFailure }),
  };
  const created = await client.post<CreatedRolloutView>(
    "/rollouts",
    body,
    values["idempotency-key"] ? { "idempotency-key": values["idempotency-key"] } : {},
  );
  if (values.json && !values.wait) {
    io.out(JSON.stringify(created));
    return EXIT.ok;
  }
  const out = output(io, values.json === true);
  out.event("created", { rollout: created });
  out.line(
    `rollout ${created.id}: ${created.batches.flat().length} target(s) in ${created.batches.length} batch(es), expected ${duration(created.expectedDurationMs)}`,
  );
  for (const f of created.findings) out.line(`  ${f.severity}: ${f.message}`);
  if (created.requiresApproval) out.line("  waiting for approval by someone other than the requester");
  if (!values.wait) return EXIT.ok;
  return waitAndReport(client, created.id, out, timeoutMs);
}

async function rolloutWatch(client: EbbClient, rest: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = args(rest, { timeout: { type: "string" }, json: { type: "boolean" } });
  const id = oneId(positionals);
  const timeoutMs = parseTimeout(values.timeout);
  return waitAndReport(client, encodeURIComponent(id), output(io, values.json === true), timeoutMs);
}

async function rolloutPreview(client: EbbClient, rest: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = args(rest, ROLLOUT_OPTIONS);
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const p = await client.post<RolloutPreview>("/rollouts/preview", rolloutBody(values));
  if (values.json) io.out(JSON.stringify(p));
  else {
    io.out(
      `fleet ${p.fleet}, runbook ${p.runbook}: ${p.batches.flat().length} target(s) in ${p.batches.length} batch(es), expected ${duration(p.expectedDurationMs)}`,
    );
    for (const [i, batch] of p.batches.entries()) io.out(`  batch ${i + 1}: ${batch.join(", ")}`);
    if (p.skipped.length > 0) io.out(`  skipped: ${p.skipped.join(", ")}`);
    for (const f of p.findings) io.out(`  ${f.severity}: ${f.message}`);
    if (p.requiresApproval) io.out("  needs approval by someone other than the requester");
    // A hold is not a preflight error: --force does not get past it, only releasing the fleet does (the
    // hold's finding above names the rollout and the commands that release it).
    if (p.holds.length > 0) io.out("  blocked: the fleet is held (--force does not override a hold)");
    else if (p.blocked) io.out("  blocked: preflight errors refuse it (--force runs it anyway)");
  }
  return p.blocked ? EXIT.failed : EXIT.ok;
}

/** Follows a rollout to its end (or the timeout) and turns the outcome into the exit code. */
async function waitAndReport(
  client: EbbClient,
  id: string,
  out: Output,
  timeoutMs: number | undefined,
): Promise<number> {
  const final = await waitFor(client, id, out, timeoutMs);
  if (final === undefined) {
    out.event("timeout", { id, timeoutMs });
    out.line(`rollout ${id} still running after --timeout ${duration(timeoutMs ?? 0)}; not waiting longer`);
    return EXIT.timeout;
  }
  out.event("finished", { rollout: final });
  return exitFor(final);
}

/**
 * Follows the rollout's event stream, printing its timeline, until it is over; undefined when
 * `timeoutMs` elapsed first.
 */
async function waitFor(
  client: EbbClient,
  id: string,
  out: Output,
  timeoutMs: number | undefined,
): Promise<RolloutDetail | undefined> {
  let final: RolloutDetail | undefined;
  let started = Date.now();
  const signal = timeoutMs === undefined ? undefined : AbortSignal.timeout(timeoutMs);
  await follow(
    client,
    `/rollouts/${id}/events`,
    (m) => {
      if (m.event === "notice") {
        const notice = JSON.parse(m.data) as RolloutNoticeView;
        out.event("notice", { notice });
        out.line(describeNotice(notice));
      }
      if (m.event === "snapshot" || m.event === "rollout") {
        const r = JSON.parse(m.data) as RolloutDetail;
        if (r.startedAt) started = Date.parse(r.startedAt);
        if (
          r.status === "succeeded" ||
          r.status === "failed" ||
          r.status === "aborted" ||
          r.status === "rolled_back"
        ) {
          final = r;
          return true;
        }
      }
      return undefined;
    },
    {
      ...(signal ? { signal } : {}),
      onReconnect: (ms, why) => out.line(`  (stream cut: ${why}; reconnecting in ${ms} ms)`),
    },
  );
  if (final === undefined) return undefined;
  const r: RolloutDetail = final;
  const took = r.finishedAt ? Date.parse(r.finishedAt) - started : undefined;
  out.line(`rollout ${r.id} ${r.status}${took === undefined ? "" : ` in ${duration(took)}`}`);
  if (r.failure) out.line(`  ${r.failure.target} at ${r.failure.step}: ${r.failure.message}`);
  for (const line of describeRollback(r)) out.line(line);
  for (const line of describeDrains(r)) out.line(line);
  return r;
}

/** The drain proof in a few lines: "0 client errors seen by the balancer across 4 drains", or where. */
export function describeDrains(r: RolloutDetail): string[] {
  // An older API has no proof to show.
  const proof = r.drainProof as RolloutDetail["drainProof"] | undefined;
  if (proof === undefined || proof.drains === 0) return [];
  const drains = `${proof.drains} drain${proof.drains === 1 ? "" : "s"}`;
  if (proof.clientErrors === 0) return [`0 client errors seen by the balancer across ${drains}`];
  const lines = [`${proof.clientErrors} client error(s) seen by the balancer in ${drains}:`];
  for (const t of r.targets)
    for (const s of t.drain?.steps ?? [])
      if (s.clientErrors > 0) lines.push(`  ${t.name} during ${s.step}: ${s.clientErrors} reset(s)`);
  return lines;
}

/** Where a rollback stands, in the rollout's own words; both directions of the link. */
export function describeRollback(r: RolloutDetail): string[] {
  const lines: string[] = [];
  // An older API has neither field.
  if (r.rollbackOf) lines.push(`  rolls back rollout ${r.rollbackOf}`);
  const rb = r.rollback;
  if (!rb) return lines;
  const targets = rb.targets.length > 0 ? ` (${rb.targets.join(", ")})` : "";
  if (rb.rolloutId) lines.push(`  rolled back by rollout ${rb.rolloutId}${targets}`);
  if (rb.error) lines.push(`  the rollback failed: ${rb.error.message}`);
  return lines;
}

/** "90s", "30m", "2h", or plain seconds. */
function parseTimeout(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d+)([smh]?)$/.exec(value);
  if (!m || Number(m[1]) === 0)
    throw new UsageError(`--timeout: "${value}" is not a duration (90s, 30m, 2h)`);
  return Number(m[1]) * { "": 1_000, s: 1_000, m: 60_000, h: 3_600_000 }[m[2] as "" | "s" | "m" | "h"];
}

function exitFor(r: RolloutDetail): number {
  switch (r.status) {
    case "succeeded":
      return EXIT.ok;
    case "aborted":
      return EXIT.aborted;
    case "rolled_back":
      return EXIT.rolledBack;
    default:
      return EXIT.failed;
  }
}

async function rolloutStatus(client: EbbClient, rest: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = args(rest, { json: { type: "boolean" } });
  const r = await client.get<RolloutDetail>(`/rollouts/${encodeURIComponent(oneId(positionals))}`);
  if (values.json) {
    io.out(JSON.stringify(r));
    return EXIT.ok;
  }
  io.out(
    `${r.id}  ${r.status}  fleet ${r.fleet}  version ${r.version}  runbook ${r.runbook} v${r.runbookVersion}`,
  );
  for (const t of r.targets)
    io.out(
      `  ${t.name.padEnd(16)} ${t.status.padEnd(16)} ${t.step ?? "-"}${t.error ? `  ${t.error.message}` : ""}`,
    );
  for (const line of describeRollback(r)) io.out(line);
  for (const line of describeDrains(r)) io.out(line);
  return EXIT.ok;
}

async function rolloutRollback(client: EbbClient, rest: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = args(rest, {
    wait: { type: "boolean" },
    timeout: { type: "string" },
    json: { type: "boolean" },
  });
  const id = encodeURIComponent(oneId(positionals));
  const timeoutMs = parseTimeout(values.timeout);
  if (timeoutMs !== undefined && !values.wait) throw new UsageError("--timeout applies to --wait");
  const created = await client.post<RollbackCreatedView>(`/rollouts/${id}/rollback`, {});
  if (values.json && !values.wait) {
    io.out(JSON.stringify(created));
    return EXIT.ok;
  }
  const out = output(io, values.json === true);
  out.event("created", { rollback: created });
  out.line(
    created.id
      ? `rollback ${created.id} of rollout ${created.rollbackOf}: ${created.targets.join(", ")}`
      : `rollout ${created.rollbackOf} is rolling back once its commands in flight end`,
  );
  if (!values.wait) return EXIT.ok;
  // Not created yet (a command in flight): follow the original, which ends rolled_back or failed.
  if (!created.id) return waitAndReport(client, id, out, timeoutMs);
  return waitAndReport(client, encodeURIComponent(created.id), out, timeoutMs);
}

async function rolloutList(client: EbbClient, rest: readonly string[], io: Io): Promise<number> {
  const { values } = args(rest, {
    fleet: { type: "string" },
    status: { type: "string" },
    limit: { type: "string" },
    json: { type: "boolean" },
  });
  const query = new URLSearchParams();
  if (values.fleet) query.set("fleet", values.fleet);
  if (values.status) query.set("status", values.status);
  if (values.limit) query.set("limit", values.limit);
  const page = await client.get<RolloutPage>(`/rollouts?${query}`);
  if (values.json) {
    io.out(JSON.stringify(page));
    return EXIT.ok;
  }
  for (const r of page.items)
    io.out(`${r.id}  ${r.status.padEnd(10)} ${r.fleet.padEnd(12)} ${r.version.padEnd(12)} ${r.createdAt}`);
  return EXIT.ok;
}

async function rolloutCommand(
  client: EbbClient,
  action: string,
  rest: readonly string[],
  io: Io,
): Promise<number> {
  const { values, positionals } = args(rest, {
    reason: { type: "string" },
    target: { type: "string" },
    json: { type: "boolean" },
  });
  const id = encodeURIComponent(oneId(positionals));
  const body =
    action === "abort"
      ? optional("reason", values.reason)
      : action === "retry" || action === "skip"
        ? { target: required(values.target, "--target") }
        : action === "approve"
          ? optional("target", values.target)
          : {};
  const r = await client.post<RolloutDetail>(`/rollouts/${id}/${action}`, body);
  if (values.json) io.out(JSON.stringify(r));
  else io.out(`rollout ${r.id}: ${r.status}`);
  return EXIT.ok;
}

async function auditList(client: EbbClient, rest: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = args(rest, {
    since: { type: "string" },
    until: { type: "string" },
    actor: { type: "string" },
    action: { type: "string" },
    fleet: { type: "string" },
    limit: { type: "string" },
    json: { type: "boolean" },
  });
  if (positionals.length > 0) throw new UsageError(`unknown command "audit ${positionals[0]}"`);
  const query = new URLSearchParams();
  if (values.since) query.set("since", sinceToIso(values.since, io.now?.() ?? new Date()));
  if (values.until) query.set("until", values.until);
  for (const key of ["actor", "action", "fleet", "limit"] as const) {
    const v = values[key];
    if (v) query.set(key, v);
  }
  const page = await client.get<AuditPage>(`/audit?${query}`);
  if (values.json) {
    io.out(JSON.stringify(page));
    return EXIT.ok;
  }
  for (const e of [...page.items].reverse())
    io.out(
      `${e.at}  ${e.actorName.padEnd(16)} ${e.action.padEnd(22)} ${e.outcome.padEnd(9)} ${e.resourceType ?? ""}${e.resourceId ? ` ${e.resourceId}` : ""}`,
    );
  return EXIT.ok;
}

async function auditVerify(client: EbbClient, rest: readonly string[], io: Io): Promise<number> {
  const { values } = args(rest, { anchor: { type: "string" }, json: { type: "boolean" } });
  const query = new URLSearchParams();
  if (values.anchor !== undefined) {
    const match = /^([1-9]\d{0,18}):([0-9a-f]{64})$/.exec(values.anchor.trim());
    if (!match) throw new UsageError("--anchor: expected ID:HASH as `ebb audit head` prints it");
    query.set("from", match[1]!);
    query.set("anchor", match[2]!);
  }
  const result = await client.get<AuditVerifyResult>(`/audit/verify${query.size > 0 ? `?${query}` : ""}`);
  if (values.json) io.out(JSON.stringify(result));
  else if (result.ok) {
    const from = result.anchor ? ` from anchor event ${result.anchor.id}` : "";
    io.out(
      `audit chain intact${from}: ${result.checked} event(s), head ${result.last ? `${result.last.id}:${result.last.hash}` : "-"}`,
    );
  } else io.out(`audit chain BROKEN at event ${result.firstBroken?.id}: ${result.firstBroken?.message}`);
  return result.ok ? EXIT.ok : EXIT.failed;
}

async function auditHead(client: EbbClient, rest: readonly string[], io: Io): Promise<number> {
  const { values } = args(rest, { json: { type: "boolean" } });
  const { head } = await client.get<AuditHeadResponse>("/audit/head");
  if (values.json) io.out(JSON.stringify({ head }));
  else if (head) io.out(`${head.id}:${head.hash}`);
  else io.err("the audit history is empty: no head to record yet");
  return head ? EXIT.ok : EXIT.failed;
}

async function tokenCreate(client: EbbClient, rest: readonly string[], io: Io): Promise<number> {
  const { values } = args(rest, {
    name: { type: "string" },
    scope: { type: "string" },
    "expires-in-days": { type: "string" },
    json: { type: "boolean" },
  });
  const days = values["expires-in-days"];
  if (days !== undefined && !/^\d+$/.test(days))
    throw new UsageError("--expires-in-days must be a whole number");
  const created = await client.post<CreateTokenResponse>("/tokens", {
    name: required(values.name, "--name"),
    scope: required(values.scope, "--scope"),
    ...(days === undefined ? {} : { expiresInDays: Number(days) }),
  });
  if (values.json) io.out(JSON.stringify(created));
  else {
    io.out(created.token);
    io.err(
      `token ${created.name} (${created.prefix}, scope ${created.scope}) expires ${created.expiresAt ?? "never"}; shown once`,
    );
  }
  return EXIT.ok;
}

/** "1h", "30m", "2d" before now, or an ISO time as is. */
export function sinceToIso(since: string, now: Date): string {
  const m = /^(\d+)([smhd])$/.exec(since);
  if (m) {
    const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as "s" | "m" | "h" | "d"];
    return new Date(now.getTime() - Number(m[1]) * unit).toISOString();
  }
  if (Number.isNaN(Date.parse(since)))
    throw new UsageError(`--since: "${since}" is neither 1h/30m/2d nor a time`);
  return new Date(since).toISOString();
}

function describeNotice(n: RolloutNoticeView): string {
  const d = n.data as Record<string, unknown>;
  const time = n.at.slice(11, 19);
  switch (n.type) {
    case "rollout.status":
      return `${time} rollout ${d.from} -> ${d.to}${d.reason ? ` (${d.reason})` : ""}${d.by ? ` by ${d.by}` : ""}`;
    case "batch.started":
      return `${time} batch ${Number(d.batch) + 1}: ${(d.targets as string[]).join(", ")}`;
    case "batch.completed":
      return `${time} batch ${Number(d.batch) + 1} done`;
    case "step.started":
      return `${time}   ${String(d.target).padEnd(12)} ${String(d.stepId).padEnd(24)} started${Number(d.attempt) > 1 ? ` (attempt ${d.attempt})` : ""}`;
    case "step.finished": {
      const error = d.error as { message?: string } | undefined;
      return `${time}   ${String(d.target).padEnd(12)} ${String(d.stepId).padEnd(24)} ${d.status}${error?.message ? `: ${error.message}` : ""}`;
    }
    case "target.status":
      return `${time}   ${String(d.target).padEnd(12)} ${d.from} -> ${d.to}`;
    case "target.leftOutOfService":
      return `${time}   ${String(d.target).padEnd(12)} LEFT OUT OF SERVICE: ${d.reason}`;
    case "approval.granted":
      return `${time}   ${String(d.target).padEnd(12)} approval granted by ${d.by}`;
    case "rollback.linked":
      return `${time} rollback: rollout ${d.rolloutId} takes ${(d.targets as string[]).join(", ")} back (rollout ${d.rollbackOf}'s targets)`;
    default:
      return `${time} ${n.type}`;
  }
}

/**
 * Progress of a followed rollout: readable lines, or with --json one JSON object per line (NDJSON) whose
 * `event` is created | notice | timeout | finished; `finished` carries the final rollout.
 */
interface Output {
  line(text: string): void;
  event(event: string, data: Record<string, unknown>): void;
}

function output(io: Io, json: boolean): Output {
  return json
    ? { line: () => {}, event: (event, data) => io.out(JSON.stringify({ event, ...data })) }
    : { line: io.out, event: () => {} };
}

/** The package's version, from its package.json (one level above src/ and dist/ alike). */
function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

async function fleetsList(client: EbbClient, rest: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = args(rest, { json: { type: "boolean" } });
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const fleets = await client.get<FleetView[]>("/fleets");
  if (values.json) io.out(JSON.stringify(fleets));
  else
    for (const f of fleets) {
      // Targets whose pod is gone (a Deployment's, after a rollout) are kept for their history: named apart.
      const present = f.targets.filter((t) => !t.goneAt);
      const gone = f.targets.length - present.length;
      io.out(
        `${f.name.padEnd(16)} ${f.balancer.padEnd(11)} ${String(present.length).padStart(3)} target(s)${f.protected ? "  protected" : ""}  ${present.map((t) => t.name).join(", ")}${gone > 0 ? `  (${gone} gone)` : ""}`,
      );
    }
  return EXIT.ok;
}

async function runbooksList(client: EbbClient, rest: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = args(rest, { json: { type: "boolean" } });
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const runbooks = await client.get<RunbookSummary[]>("/runbooks");
  if (values.json) io.out(JSON.stringify(runbooks));
  else
    for (const r of runbooks)
      io.out(
        `${r.name.padEnd(24)} ${r.builtin ? "built-in" : "stored  "}  ${r.latestVersion === null ? "-" : `v${r.latestVersion}`}`,
      );
  return EXIT.ok;
}

function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
