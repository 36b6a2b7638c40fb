import { parse as parseYaml } from "yaml";
import { formatDuration, parseDuration } from "../runbook/duration.js";

/**
 * `ebb lint`: rules over a Kubernetes fleet's LIVE objects (the workload, its pods, the HPAs and
 * PodDisruptionBudgets that act on it), for the terminations no orchestrator drains: scale-downs, node
 * drains, evictions, `kubectl rollout restart`. Preflight reasons over a rollout's declared values; these
 * rules read what the cluster will actually do. The shapes below are the Kubernetes JSON fields the rules
 * read (client-node's V1 objects fit them), so this file needs no Kubernetes client.
 */

export interface LintObjectMeta {
  name?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface LintHandler {
  exec?: { command?: string[] };
  sleep?: { seconds: number };
  httpGet?: { path?: string; port: number | string; host?: string };
}

export interface LintContainer {
  name: string;
  image?: string;
  /** `Always` on an init container: a native sidecar (started before, stopped after the app containers). */
  restartPolicy?: string;
  ports?: { name?: string; containerPort: number }[];
  env?: { name: string; value?: string }[];
  lifecycle?: { preStop?: LintHandler };
}

export interface LintPodSpec {
  terminationGracePeriodSeconds?: number;
  containers: LintContainer[];
  initContainers?: LintContainer[];
}

export interface LintPod {
  metadata?: LintObjectMeta;
  spec?: LintPodSpec;
}

type CountOrPercent = number | string;

export interface LintWorkload {
  kind: "StatefulSet" | "Deployment";
  metadata?: LintObjectMeta;
  spec?: {
    replicas?: number;
    /** Deployment. */
    strategy?: { type?: string; rollingUpdate?: { maxUnavailable?: CountOrPercent } };
    /** StatefulSet. */
    updateStrategy?: { type?: string; rollingUpdate?: { maxUnavailable?: CountOrPercent } };
    template?: LintPod;
  };
}

export interface LintLabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

export interface LintHpa {
  metadata?: LintObjectMeta;
  spec?: {
    scaleTargetRef: { kind: string; name: string };
    minReplicas?: number;
    maxReplicas: number;
    behavior?: {
      scaleDown?: {
        selectPolicy?: string;
        policies?: { type: string; value: number; periodSeconds: number }[];
      };
    };
  };
}

export interface LintPdb {
  metadata?: LintObjectMeta;
  spec?: { minAvailable?: CountOrPercent; maxUnavailable?: CountOrPercent; selector?: LintLabelSelector };
}

/** What `ebb lint` reports for one fleet's live workload. */
export interface WorkloadLint {
  workload: { kind: string; namespace: string; name: string };
  findings: WorkloadFinding[];
  /** Kinds that could not be read (RBAC, a cluster without that API): their rules did not run. */
  unread: { kind: string; reason: string }[];
}

export interface WorkloadLintInput {
  /** How far the proxies in front may lag behind the EndpointSlices (real ms, the fleet's config). */
  propagationWindowMs: number;
  /** Pod durations are multiplied by this to give real time: 1 on a real cluster, <1 in the lab emulator. */
  timeScale?: number;
  /** How many pods the fleet can lose at once, as the fleet declares it; default: the workload's strategy. */
  maxUnavailable?: CountOrPercent;
  /** The application container's name (the fleet's versionContainer); default: the first that is no proxy. */
  appContainer?: string;
  workload: LintWorkload;
  pods: readonly LintPod[];
  hpas: readonly LintHpa[];
  pdbs: readonly LintPdb[];
}

export const WORKLOAD_RULES = [
  "prestop-missing",
  "prestop-too-short",
  "prestop-unobserved",
  "grace-too-short",
  "shutdown-budget-undeclared",
  "sidecar-stops-with-app",
  "hpa-scales-down-too-many",
  "pdb-allows-too-many",
] as const;
export type WorkloadRule = (typeof WORKLOAD_RULES)[number];

export interface WorkloadFinding {
  severity: "error" | "warning";
  rule: WorkloadRule;
  object: { kind: string; namespace: string; name: string };
  /** The field to change, as a path into the object (containers by index, the name in the message). */
  field: string;
  /** The numbers the rule compared: durations in real ms, pod counts as counts. */
  numbers: Record<string, number>;
  message: string;
  /** The fix, in one sentence. */
  fix: string;
  /** Other pods with the same finding (when a pod differs from its template, e.g. an injected sidecar). */
  alsoPods?: string[];
}

/** Declares the app's graceful stop after SIGTERM (background work included), e.g. "10s". */
export const SHUTDOWN_BUDGET_ANNOTATION = "ebb.dev/drain-budget";
/** Istio's per-pod proxy config (YAML or JSON): terminationDrainDuration, proxyMetadata. */
export const ISTIO_PROXY_CONFIG_ANNOTATION = "proxy.istio.io/config";
/** istio-proxy's default terminationDrainDuration. */
const ISTIO_DEFAULT_DRAIN_MS = 5_000;
const DRAIN_HOOK_DEFAULTS = { propagationMs: 5_000, holdMs: 1_000 };
const PROXY_NAMES = new Set(["istio-proxy", "envoy", "linkerd-proxy"]);
const PROXY_IMAGE = /envoy|istio\/proxy|proxyv2|linkerd2?-proxy|linkerd\/proxy/i;

export function lintWorkload(input: WorkloadLintInput): WorkloadFinding[] {
  const scale = input.timeScale ?? 1;
  const ctx: Ctx = { input, real: (s) => Math.round(s * 1000 * scale) };
  const w = input.workload;
  const ns = w.metadata?.namespace ?? "";
  const workloadRef = { kind: w.kind, namespace: ns, name: w.metadata?.name ?? "" };
  const findings: WorkloadFinding[] = [];
  const template = w.spec?.template;
  const seen = new Map<string, WorkloadFinding>();
  // The same field of the template and of a pod: spec.template.X there is X here.
  const key = (f: WorkloadFinding) =>
    `${f.rule}|${f.field.replace(/^spec\.template\./, "")}|${JSON.stringify(f.numbers)}`;
  if (template?.spec) {
    for (const f of podSpecFindings(ctx, template, workloadRef, "spec.template.spec")) {
      seen.set(key(f), f);
      findings.push(f);
    }
  }
  // Pods can differ from their template: a mutating webhook (Istio's injector) adds its proxy at admission,
  // and pods of an older revision still run the old spec. Each difference is reported once, on one pod.
  for (const pod of input.pods) {
    if (!pod.spec) continue;
    const ref = { kind: "Pod", namespace: pod.metadata?.namespace ?? ns, name: pod.metadata?.name ?? "" };
    for (const f of podSpecFindings(ctx, pod, ref, "spec")) {
      const k = key(f);
      const first = seen.get(k);
      if (first === undefined) {
        seen.set(k, f);
        findings.push(f);
      } else if (first.object.kind === "Pod") {
        first.alsoPods = [...(first.alsoPods ?? []), ref.name];
      }
    }
  }
  findings.push(...disruptionFindings(ctx, workloadRef));
  return findings;
}

interface Ctx {
  input: WorkloadLintInput;
  /** Cluster seconds (a pod spec's durations) to real ms. */
  real: (seconds: number) => number;
}

type Ref = WorkloadFinding["object"];

/** How long a preStop holds the app before SIGTERM, as far as the spec tells. */
type Hold =
  | { kind: "none" }
  | { kind: "sleep"; ms: number }
  | { kind: "hook"; ms: number; container: LintContainer; index: number }
  | { kind: "unknown"; what: string };

function isProxy(c: LintContainer): boolean {
  return PROXY_NAMES.has(c.name) || PROXY_IMAGE.test(c.image ?? "");
}

function isNativeSidecar(c: LintContainer): boolean {
  return c.restartPolicy === "Always";
}

function appIndex(spec: LintPodSpec, name: string | undefined): number {
  if (name !== undefined) {
    const i = spec.containers.findIndex((c) => c.name === name);
    if (i >= 0) return i;
  }
  const i = spec.containers.findIndex((c) => !isProxy(c));
  return i >= 0 ? i : 0;
}

function envOf(c: LintContainer, name: string): string | undefined {
  return c.env?.find((e) => e.name === name)?.value;
}

/** "500ms", "2s", or a bare number of seconds (the drain hook's and Istio's forms); undefined if unreadable. */
function durationMs(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * 1000);
  try {
    return parseDuration(t);
  } catch {
    return undefined;
  }
}

function sleepSeconds(h: LintHandler): number | undefined {
  if (h.sleep) return Math.max(0, Number(h.sleep.seconds) || 0);
  const text = (h.exec?.command ?? []).join(" ");
  const m = /(?:^|\s|;|&&)sleep\s+(\d+(?:\.\d+)?)/.exec(text);
  return m ? Number(m[1]) : undefined;
}

function holdOf(ctx: Ctx, spec: LintPodSpec, h: LintHandler | undefined): Hold {
  if (h === undefined) return { kind: "none" };
  const s = sleepSeconds(h);
  if (s !== undefined) return s === 0 ? { kind: "none" } : { kind: "sleep", ms: ctx.real(s) };
  if (h.httpGet) {
    const port = h.httpGet.port;
    const init = spec.initContainers ?? [];
    const index = init.findIndex(
      (c) =>
        isNativeSidecar(c) &&
        (c.ports ?? []).some((p) => (typeof port === "number" ? p.containerPort === port : p.name === port)),
    );
    const hook = index >= 0 ? init[index] : undefined;
    if (hook && isDrainHook(hook)) {
      // The hook's durations are given to it in real time (the lab hands it scaled values).
      const propagation =
        durationMs(envOf(hook, "DRAIN_HOOK_PROPAGATION")) ?? DRAIN_HOOK_DEFAULTS.propagationMs;
      const hold = durationMs(envOf(hook, "DRAIN_HOOK_HOLD")) ?? DRAIN_HOOK_DEFAULTS.holdMs;
      return { kind: "hook", ms: propagation + hold, container: hook, index };
    }
    return { kind: "unknown", what: `an httpGet to port ${port}${hook ? ` (${hook.name})` : ""}` };
  }
  return { kind: "unknown", what: h.exec ? "an exec command without sleep" : "a handler" };
}

function isDrainHook(c: LintContainer): boolean {
  return /drain-hook/.test(c.image ?? "") || (c.env ?? []).some((e) => e.name.startsWith("DRAIN_HOOK_"));
}

/** The app's declared shutdown budget (real ms): the template annotation, else what its drain hook is told. */
function shutdownBudget(ctx: Ctx, pod: LintPod, hold: Hold): number | undefined {
  const annotated = pod.metadata?.annotations?.[SHUTDOWN_BUDGET_ANNOTATION];
  if (annotated !== undefined) {
    try {
      return ctx.real(parseDuration(annotated) / 1000);
    } catch {
      return undefined;
    }
  }
  return hold.kind === "hook" ? durationMs(envOf(hold.container, "DRAIN_HOOK_SHUTDOWN_BUDGET")) : undefined;
}

interface IstioDrain {
  drainMs: number;
  exitOnZero: boolean;
  /** Where the value came from, for the finding's field. */
  source: string;
}

/** istio-proxy's drain on SIGTERM: the pod's proxy.istio.io/config, else the container's env, else 5 s. */
function istioDrain(ctx: Ctx, pod: LintPod, c: LintContainer, metaAt: string): IstioDrain {
  let drainMs: number | undefined;
  let exitOnZero: boolean | undefined;
  let source = "";
  const text = pod.metadata?.annotations?.[ISTIO_PROXY_CONFIG_ANNOTATION];
  if (text !== undefined) {
    try {
      const cfg = parseYaml(text) as {
        terminationDrainDuration?: string | number;
        proxyMetadata?: Record<string, unknown>;
      } | null;
      const d = cfg?.terminationDrainDuration;
      // Istio's config durations are protobuf Durations ("30s"); a cluster's seconds.
      const parsed = d === undefined ? undefined : durationMs(String(d));
      if (parsed !== undefined) drainMs = ctx.real(parsed / 1000);
      const exit = cfg?.proxyMetadata?.EXIT_ON_ZERO_ACTIVE_CONNECTIONS;
      if (exit !== undefined) exitOnZero = String(exit) === "true";
      source = `${metaAt}.annotations['${ISTIO_PROXY_CONFIG_ANNOTATION}']`;
    } catch {
      // An unreadable annotation is Istio's to reject; the defaults below apply.
    }
  }
  const envDrain = durationMs(envOf(c, "TERMINATION_DRAIN_DURATION_SECONDS"));
  if (drainMs === undefined && envDrain !== undefined) drainMs = ctx.real(envDrain / 1000);
  const envExit = envOf(c, "EXIT_ON_ZERO_ACTIVE_CONNECTIONS");
  if (exitOnZero === undefined && envExit !== undefined) exitOnZero = envExit === "true";
  return {
    drainMs: drainMs ?? ctx.real(ISTIO_DEFAULT_DRAIN_MS / 1000),
    exitOnZero: exitOnZero ?? false,
    source,
  };
}

function podSpecFindings(ctx: Ctx, pod: LintPod, object: Ref, at: string): WorkloadFinding[] {
  const spec = pod.spec!;
  const out: WorkloadFinding[] = [];
  const window = ctx.input.propagationWindowMs;
  const ai = appIndex(spec, ctx.input.appContainer);
  const app = spec.containers[ai];
  if (!app) return out;
  const appPath = `${at}.containers[${ai}]`;
  const preStopPath = `${appPath}.lifecycle.preStop`;
  const hold = holdOf(ctx, spec, app.lifecycle?.preStop);
  const push = (f: Omit<WorkloadFinding, "object">) => out.push({ object, ...f });
  const metaAt = object.kind === "Pod" ? "metadata" : "spec.template.metadata";

  // 1. preStop against the propagation window.
  if (hold.kind === "none") {
    push({
      severity: "error",
      rule: "prestop-missing",
      field: preStopPath,
      numbers: { preStopMs: 0, propagationWindowMs: window },
      message:
        `container ${app.name} has no preStop: on every termination (scale-down, node drain, eviction, ` +
        "rollout restart) it gets SIGTERM while the proxies in front still send it new connections for up to " +
        `${formatDuration(window)}`,
      fix:
        "Add the drain hook as a native sidecar and `preStop: httpGet` to it (docs/drain-hook.md), or at " +
        `least \`preStop: sleep\` of ${formatDuration(window)}.`,
    });
  } else if (hold.kind === "unknown") {
    push({
      severity: "warning",
      rule: "prestop-unobserved",
      field: preStopPath,
      numbers: { propagationWindowMs: window },
      message: `container ${app.name}'s preStop is ${hold.what}: Ebb cannot tell whether it holds the app for the ${formatDuration(window)} propagation window`,
      fix: "Point the preStop at the drain hook (a native sidecar) or make it a sleep of at least the propagation window.",
    });
  } else if (hold.ms < window) {
    const hook = hold.kind === "hook";
    push({
      severity: "error",
      rule: "prestop-too-short",
      field: hook ? `${at}.initContainers[${hold.index}].env` : preStopPath,
      numbers: { preStopMs: hold.ms, propagationWindowMs: window },
      message: hook
        ? `the drain hook ${hold.container.name} releases container ${app.name} after its propagation plus hold ` +
          `(${formatDuration(hold.ms)}), shorter than the fleet's propagation window (${formatDuration(window)})`
        : `container ${app.name}'s preStop sleeps ${formatDuration(hold.ms)}, shorter than the fleet's ` +
          `propagation window (${formatDuration(window)}): connections still arriving after it get refused`,
      fix: hook
        ? `Raise DRAIN_HOOK_PROPAGATION so that it plus DRAIN_HOOK_HOLD is at least ${formatDuration(window)}.`
        : `Raise the preStop sleep to at least ${formatDuration(window)}, or use the drain hook instead.`,
    });
  }

  // 2. The grace period against preStop plus the app's shutdown budget.
  const graceMs = ctx.real(spec.terminationGracePeriodSeconds ?? 30);
  const gracePath = `${at}.terminationGracePeriodSeconds`;
  const budget = shutdownBudget(ctx, pod, hold);
  const preStopMs = hold.kind === "sleep" || hold.kind === "hook" ? hold.ms : 0;
  if (budget === undefined) {
    push({
      severity: "warning",
      rule: "shutdown-budget-undeclared",
      field: `${metaAt}.annotations['${SHUTDOWN_BUDGET_ANNOTATION}']`,
      numbers: { terminationGracePeriodMs: graceMs },
      message:
        `the app declares no shutdown budget: Ebb cannot tell whether the ${formatDuration(graceMs)} grace period ` +
        "leaves it time to finish its requests and background work after SIGTERM",
      fix: `Annotate the pod template with ${SHUTDOWN_BUDGET_ANNOTATION}: what the app's graceful stop needs (e.g. "10s").`,
    });
  }
  const need = preStopMs + (budget ?? 0);
  if (hold.kind !== "unknown" && graceMs <= need) {
    push({
      severity: "error",
      rule: "grace-too-short",
      field: gracePath,
      numbers: { terminationGracePeriodMs: graceMs, preStopMs, shutdownBudgetMs: budget ?? 0 },
      message:
        `grace period ${formatDuration(graceMs)} is not longer than preStop (${formatDuration(preStopMs)})` +
        (budget ? ` plus the app's shutdown budget (${formatDuration(budget)})` : "") +
        ": the kubelet SIGKILLs the app before it has finished its requests and background work",
      fix: `Raise terminationGracePeriodSeconds above ${Math.ceil(need / 1000 / (ctx.input.timeScale ?? 1))}s.`,
    });
  }
  if (hold.kind === "hook") {
    const hookGrace = durationMs(envOf(hold.container, "DRAIN_HOOK_GRACE"));
    if (hookGrace !== undefined && hookGrace > graceMs) {
      push({
        severity: "error",
        rule: "grace-too-short",
        field: `${at}.initContainers[${hold.index}].env`,
        numbers: { terminationGracePeriodMs: graceMs, hookGraceMs: hookGrace },
        message:
          `the drain hook is told a grace period of ${formatDuration(hookGrace)} (DRAIN_HOOK_GRACE), longer ` +
          `than the pod's ${formatDuration(graceMs)}: it may hold past the kubelet's SIGKILL and leave the app no shutdown budget`,
        fix: "Set DRAIN_HOOK_GRACE equal to terminationGracePeriodSeconds.",
      });
    }
  }

  // 3. Regular containers beside the app get SIGTERM with it; native sidecars (restartPolicy: Always on an
  // init container, whatever their name) are stopped only after it, so they are fine by construction.
  const stopMs = preStopMs + (budget ?? 0);
  for (const [i, c] of spec.containers.entries()) {
    if (i === ai) continue;
    const proxy = isProxy(c);
    const istio = c.name === "istio-proxy" || /istio/i.test(c.image ?? "");
    const own = c.lifecycle?.preStop ? sleepSeconds(c.lifecycle.preStop) : undefined;
    const ownMs = own === undefined ? 0 : ctx.real(own);
    const drain = istio ? istioDrain(ctx, pod, c, metaAt) : undefined;
    if (drain?.exitOnZero) continue; // it stays until the app's connections through it are closed
    const lasts = Math.max(ownMs, drain?.drainMs ?? 0);
    if (lasts >= stopMs && (ownMs > 0 || drain !== undefined)) continue;
    const field = drain?.source && ownMs === 0 ? drain.source : `${at}.containers[${i}].lifecycle.preStop`;
    push({
      severity: proxy ? "error" : "warning",
      rule: "sidecar-stops-with-app",
      field,
      numbers: { sidecarStopMs: lasts, appStopMs: stopMs },
      message:
        `container ${c.name} is a regular container${proxy ? " and a proxy" : ""}: it gets SIGTERM with ` +
        `${app.name} and is gone after ${formatDuration(lasts)}${drain ? " (Istio's terminationDrainDuration)" : ""}, ` +
        `while ${app.name} needs ${formatDuration(stopMs)} (preStop plus shutdown budget)` +
        (proxy ? ": the app's last requests and outbound calls through it fail" : ""),
      fix: istio
        ? `In ${ISTIO_PROXY_CONFIG_ANNOTATION} set terminationDrainDuration to at least ${formatDuration(stopMs)} or ` +
          'proxyMetadata.EXIT_ON_ZERO_ACTIVE_CONNECTIONS: "true" (or run Istio\'s native sidecar mode).'
        : `Make ${c.name} a native sidecar (an init container with restartPolicy: Always) or give it a preStop ` +
          `sleep of at least ${formatDuration(stopMs)}.`,
    });
  }
  return out;
}

/** A count or percentage of `total`, rounded as Kubernetes does for that field. */
function resolve(v: CountOrPercent, total: number, round: "up" | "down"): number | undefined {
  if (typeof v === "number") return v;
  const m = /^(\d+(?:\.\d+)?)%$/.exec(v.trim());
  if (m) {
    const x = (Number(m[1]) / 100) * total;
    return round === "up" ? Math.ceil(x) : Math.floor(x);
  }
  return /^\d+$/.test(v.trim()) ? Number(v) : undefined;
}

/** How many pods the fleet can lose at once, and where that number comes from. */
function fleetLimit(input: WorkloadLintInput, replicas: number): { limit: number; source: string } {
  if (input.maxUnavailable !== undefined) {
    const n = resolve(input.maxUnavailable, replicas, "down");
    if (n !== undefined)
      return { limit: Math.max(1, n), source: `the fleet's maxUnavailable (${input.maxUnavailable})` };
  }
  const w = input.workload;
  if (w.kind === "Deployment") {
    const s = w.spec?.strategy;
    if (s?.type === "Recreate") return { limit: replicas, source: "the Deployment's Recreate strategy" };
    const v = s?.rollingUpdate?.maxUnavailable ?? "25%";
    // maxUnavailable 0 (surge-only rollouts) still lets one pod go at a time in a drain: the floor is one.
    return {
      limit: Math.max(1, resolve(v, replicas, "down") ?? 1),
      source: `the Deployment's strategy.rollingUpdate.maxUnavailable (${v})`,
    };
  }
  const v = w.spec?.updateStrategy?.rollingUpdate?.maxUnavailable ?? 1;
  return {
    limit: Math.max(1, resolve(v, replicas, "down") ?? 1),
    source: `the StatefulSet's updateStrategy maxUnavailable (${v})`,
  };
}

function selects(sel: LintLabelSelector | undefined, labels: Record<string, string>): boolean {
  if (sel === undefined) return false;
  // An empty selector on a policy/v1 PDB selects every pod in the namespace.
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = e.key in labels;
    const value = labels[e.key];
    const values = e.values ?? [];
    if (e.operator === "In" && !(has && values.includes(value!))) return false;
    if (e.operator === "NotIn" && has && values.includes(value!)) return false;
    if (e.operator === "Exists" && !has) return false;
    if (e.operator === "DoesNotExist" && has) return false;
  }
  return true;
}

/** How many pods one scale-down step of the HPA removes at most, at `replicas` (its controller's arithmetic). */
export function hpaScaleDownStep(hpa: LintHpa, replicas: number): { pods: number; periodSeconds: number } {
  const sd = hpa.spec?.behavior?.scaleDown;
  if (sd?.selectPolicy === "Disabled") return { pods: 0, periodSeconds: 0 };
  // Kubernetes' default scale-down policy: 100% of the replicas every 15 s.
  const policies = sd?.policies?.length ? sd.policies : [{ type: "Percent", value: 100, periodSeconds: 15 }];
  const each = policies.map((p) => ({
    pods: p.type === "Pods" ? p.value : replicas - Math.ceil(replicas * (1 - p.value / 100)),
    periodSeconds: p.periodSeconds,
  }));
  const pick = each.reduce((a, b) =>
    (sd?.selectPolicy === "Min" ? b.pods < a.pods : b.pods > a.pods) ? b : a,
  );
  const floor = hpa.spec?.minReplicas ?? 1;
  return { pods: Math.max(0, Math.min(pick.pods, replicas - floor)), periodSeconds: pick.periodSeconds };
}

function disruptionFindings(ctx: Ctx, workloadRef: Ref): WorkloadFinding[] {
  const out: WorkloadFinding[] = [];
  const w = ctx.input.workload;
  const replicas = w.spec?.replicas ?? 1;
  const { limit, source } = fleetLimit(ctx.input, replicas);
  const labels = w.spec?.template?.metadata?.labels ?? {};
  for (const pdb of ctx.input.pdbs) {
    if (!selects(pdb.spec?.selector, labels)) continue;
    const ref = {
      kind: "PodDisruptionBudget",
      namespace: pdb.metadata?.namespace ?? "",
      name: pdb.metadata?.name ?? "",
    };
    const spec = pdb.spec ?? {};
    let allowed: number | undefined;
    let field: string;
    if (spec.maxUnavailable !== undefined) {
      allowed = resolve(spec.maxUnavailable, replicas, "up");
      field = "spec.maxUnavailable";
    } else if (spec.minAvailable !== undefined) {
      const min = resolve(spec.minAvailable, replicas, "up");
      allowed = min === undefined ? undefined : Math.max(0, replicas - min);
      field = "spec.minAvailable";
    } else continue;
    if (allowed === undefined || allowed <= limit) continue;
    out.push({
      severity: "error",
      rule: "pdb-allows-too-many",
      object: ref,
      field,
      numbers: { allowedDisruptions: allowed, fleetLimit: limit, replicas },
      message:
        `${ref.name} lets ${allowed} of ${workloadRef.name}'s ${replicas} pods be evicted at once (a node drain, ` +
        `a cluster upgrade), more than the fleet can lose: ${limit}, from ${source}`,
      fix:
        field === "spec.maxUnavailable"
          ? `Set spec.maxUnavailable to ${limit}.`
          : `Set spec.minAvailable to ${replicas - limit} (or use spec.maxUnavailable: ${limit}).`,
    });
  }
  for (const hpa of ctx.input.hpas) {
    const target = hpa.spec?.scaleTargetRef;
    if (target?.kind !== w.kind || target.name !== workloadRef.name) continue;
    const step = hpaScaleDownStep(hpa, replicas);
    if (step.pods <= limit) continue;
    const ref = {
      kind: "HorizontalPodAutoscaler",
      namespace: hpa.metadata?.namespace ?? "",
      name: hpa.metadata?.name ?? "",
    };
    out.push({
      severity: "warning",
      rule: "hpa-scales-down-too-many",
      object: ref,
      field: "spec.behavior.scaleDown.policies",
      numbers: { podsPerStep: step.pods, periodSeconds: step.periodSeconds, fleetLimit: limit, replicas },
      message:
        `${ref.name} may remove ${step.pods} of ${replicas} pods in one scale-down step (every ` +
        `${step.periodSeconds}s), more than the fleet can lose at once: ${limit}, from ${source}`,
      fix:
        `Add spec.behavior.scaleDown.policies [{type: Pods, value: ${limit}, periodSeconds: P}] with P no shorter ` +
        "than a pod's termination, and selectPolicy: Min if other policies stay.",
    });
  }
  return out;
}

export function hasWorkloadErrors(findings: readonly WorkloadFinding[]): boolean {
  return findings.some((f) => f.severity === "error");
}
