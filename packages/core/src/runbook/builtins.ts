import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { EbbError } from "../errors.js";
import { parseRunbookOrThrow } from "./parse.js";
import type { Runbook } from "./schema.js";

/**
 * The built-in runbooks live as YAML files in src/runbook/builtin/: one source of truth that operators
 * read and copy. This loader is the package's only file I/O. The path is resolved from this module so
 * it works from src/ (tests) and dist/ (run time) alike: both sit two levels below the package root,
 * and tsc does not copy .yaml files into dist/.
 */
const BUILTIN_DIR = fileURLToPath(new URL("../../src/runbook/builtin/", import.meta.url));

export const BUILTIN_RUNBOOK_NAMES = [
  "l4-drain",
  "l4-drain-l4check",
  "k8s-pod-drain",
  "haproxy-drain",
] as const;
export type BuiltinRunbookName = (typeof BUILTIN_RUNBOOK_NAMES)[number];

export function isBuiltinRunbookName(name: string): name is BuiltinRunbookName {
  return (BUILTIN_RUNBOOK_NAMES as readonly string[]).includes(name);
}

export function builtinRunbookPath(name: BuiltinRunbookName): string {
  return `${BUILTIN_DIR}${name}.yaml`;
}

/** The YAML text, comments included (to show or copy). */
export function builtinRunbookSource(name: BuiltinRunbookName): string {
  return readFileSync(builtinRunbookPath(name), "utf8");
}

/** Reads and validates every built-in runbook; a broken one throws EbbError("runbook_invalid"). */
export function loadBuiltinRunbooks(): Record<BuiltinRunbookName, Runbook> {
  const onDisk = readdirSync(BUILTIN_DIR).filter((f) => f.endsWith(".yaml"));
  const unlisted = onDisk.filter((f) => !isBuiltinRunbookName(f.replace(/\.yaml$/, "")));
  if (unlisted.length > 0) {
    throw new EbbError(
      "internal",
      `builtin runbook files not listed in BUILTIN_RUNBOOK_NAMES: ${unlisted.join(", ")}`,
    );
  }
  const entries = BUILTIN_RUNBOOK_NAMES.map((name) => {
    const runbook = parseRunbookOrThrow(builtinRunbookSource(name), `builtin runbook ${name}`);
    if (runbook.name !== name) {
      throw new EbbError("internal", `builtin runbook file ${name}.yaml is named "${runbook.name}"`);
    }
    return [name, runbook] as const;
  });
  return Object.fromEntries(entries) as Record<BuiltinRunbookName, Runbook>;
}
