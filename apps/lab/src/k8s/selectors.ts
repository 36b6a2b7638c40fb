import type { KObject, LabelSelectorSpec } from "./types.js";

export type Matcher = (obj: KObject) => boolean;

export class SelectorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SelectorError";
  }
}

type Requirement =
  | { key: string; op: "=" | "!="; value: string }
  | { key: string; op: "in" | "notin"; values: string[] }
  | { key: string; op: "exists" | "!exists" };

/** Splits on commas outside parentheses: `a in (x,y),b=c` is two requirements. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === "(") depth++;
    else if (ch === ")") depth--;
    else if (ch === "," && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts.map((p) => p.trim()).filter((p) => p.length > 0);
}

function parseRequirement(part: string, param: string): Requirement {
  const set = /^([^\s!=()]+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(part);
  if (set) {
    const values = set[3]!
      .split(",")
      .map((v) => v.trim())
      .filter((v) => v.length > 0);
    return { key: set[1]!, op: set[2] as "in" | "notin", values };
  }
  const cmp = /^([^\s!=()]+)\s*(==|!=|=)\s*([^\s!=(),]*)$/.exec(part);
  if (cmp) return { key: cmp[1]!, op: cmp[2] === "!=" ? "!=" : "=", value: cmp[3]! };
  const exists = /^(!?)\s*([^\s!=(),]+)$/.exec(part);
  if (exists) return { key: exists[2]!, op: exists[1] ? "!exists" : "exists" };
  throw new SelectorError(`${param}: cannot parse requirement ${JSON.stringify(part)}`);
}

function matches(req: Requirement, value: string | undefined): boolean {
  switch (req.op) {
    case "=":
      return value === req.value;
    case "!=":
      return value !== req.value;
    case "in":
      return value !== undefined && req.values.includes(value);
    case "notin":
      return value === undefined || !req.values.includes(value);
    case "exists":
      return value !== undefined;
    case "!exists":
      return value === undefined;
  }
}

/** A `labelSelector` query parameter (`app=web,tier in (a,b),!canary`). */
export function parseLabelSelector(text: string | null | undefined): Matcher {
  if (!text) return () => true;
  const reqs = splitTopLevel(text).map((p) => parseRequirement(p, "labelSelector"));
  return (obj) => reqs.every((r) => matches(r, obj.metadata.labels?.[r.key]));
}

/** A LabelSelector object (matchLabels + matchExpressions), as workloads carry it. */
export function labelSelectorMatcher(sel: LabelSelectorSpec | undefined): Matcher {
  if (!sel) return () => false;
  const reqs: Requirement[] = Object.entries(sel.matchLabels ?? {}).map(([key, value]) => ({
    key,
    op: "=",
    value,
  }));
  for (const e of sel.matchExpressions ?? []) {
    const op = e.operator;
    if (op === "In") reqs.push({ key: e.key, op: "in", values: e.values ?? [] });
    else if (op === "NotIn") reqs.push({ key: e.key, op: "notin", values: e.values ?? [] });
    else if (op === "Exists") reqs.push({ key: e.key, op: "exists" });
    else if (op === "DoesNotExist") reqs.push({ key: e.key, op: "!exists" });
    else throw new SelectorError(`matchExpressions: unknown operator ${JSON.stringify(op)}`);
  }
  return (obj) => reqs.every((r) => matches(r, obj.metadata.labels?.[r.key]));
}

/** A Service's `spec.selector` (equality on every key; an empty selector selects nothing). */
export function mapSelectorMatcher(selector: Record<string, string> | undefined): Matcher {
  const entries = Object.entries(selector ?? {});
  if (entries.length === 0) return () => false;
  return (obj) => entries.every(([k, v]) => obj.metadata.labels?.[k] === v);
}

function fieldValue(obj: KObject, path: string): string | undefined {
  let cur: unknown = obj;
  for (const seg of path.split(".")) {
    if (typeof cur !== "object" || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[seg];
  }
  if (cur === undefined || cur === null) return undefined;
  return typeof cur === "object" ? JSON.stringify(cur) : String(cur);
}

/**
 * A `fieldSelector` (`metadata.name=web-0,status.phase!=Running`). The real server allows a fixed set of
 * fields per kind; the emulator accepts any dotted path, which is a superset of what clients send.
 */
export function parseFieldSelector(text: string | null | undefined): Matcher {
  if (!text) return () => true;
  const reqs = splitTopLevel(text).map((part) => {
    const m = /^([A-Za-z0-9_.]+)\s*(==|!=|=)\s*(.*)$/.exec(part);
    if (!m) throw new SelectorError(`fieldSelector: cannot parse requirement ${JSON.stringify(part)}`);
    return { path: m[1]!, negate: m[2] === "!=", value: m[3]!.trim() };
  });
  return (obj) =>
    reqs.every((r) => {
      const v = fieldValue(obj, r.path) ?? "";
      return r.negate ? v !== r.value : v === r.value;
    });
}
