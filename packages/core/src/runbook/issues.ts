import type { z } from "zod";
import { STEP_TYPE_NAMES } from "./steps.js";

/** One problem in a runbook document. `line`/`column` are 1-based; absent when there is no source text. */
export interface RunbookIssue {
  path: string;
  message: string;
  line?: number;
  column?: number;
}

/** ["steps", 3, "timeout"] -> "steps[3].timeout" */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const segment of path) {
    if (typeof segment === "number") out += `[${segment}]`;
    else out += out === "" ? String(segment) : `.${String(segment)}`;
  }
  return out === "" ? "(document)" : out;
}

/** Zod's issue text, reworded for someone editing YAML. `input` is the parsed document (to spot missing fields). */
export function issueMessage(issue: z.core.$ZodIssue, input: unknown): string {
  switch (issue.code) {
    case "invalid_type":
      if (valueAt(input, issue.path) === undefined) return "is required";
      return `must be ${article(issue.expected)}, not ${describe(valueAt(input, issue.path))}`;
    case "invalid_union":
      if (issue.discriminator === "type") return unknownStepType(valueAt(input, issue.path));
      return issue.message;
    case "invalid_value":
      return `must be ${issue.values.map((v) => JSON.stringify(v)).join(" or ")}`;
    case "unrecognized_keys":
      return `unknown field ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
    case "invalid_key":
      return `invalid name: ${issue.issues.map((i) => i.message).join("; ")}`;
    default:
      return issue.message;
  }
}

function unknownStepType(value: unknown): string {
  if (value === undefined) return `needs a step type: ${STEP_TYPE_NAMES.join(", ")}`;
  const text = String(value);
  const suggestion = closest(text, STEP_TYPE_NAMES);
  const hint = suggestion === undefined ? "" : `; did you mean "${suggestion}"?`;
  return `unknown step type ${JSON.stringify(value)} (known: ${STEP_TYPE_NAMES.join(", ")})${hint}`;
}

export function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let node = input;
  for (const segment of path) {
    if (node === null || typeof node !== "object") return undefined;
    node = (node as Record<PropertyKey, unknown>)[segment];
  }
  return node;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return `${typeof value} ${JSON.stringify(value)}`;
}

function article(expected: string): string {
  if (expected === "array") return "a list";
  if (expected === "object") return "a mapping";
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}

/** The candidate within edit distance 3, if any: catches `balancer.awaitUbound`. */
function closest(text: string, candidates: readonly string[]): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const name of candidates) {
    const distance = editDistance(text.toLowerCase(), name.toLowerCase());
    if (distance <= 3 && (best === undefined || distance < best.distance)) best = { name, distance };
  }
  return best?.name;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}
