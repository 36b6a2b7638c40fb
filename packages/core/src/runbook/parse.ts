import { LineCounter, parseDocument } from "yaml";
import { EbbError } from "../errors.js";
import { formatPath, issueMessage, type RunbookIssue } from "./issues.js";
import { type Runbook, runbookSchema } from "./schema.js";
import { locate } from "./yaml-location.js";

export type RunbookResult = { ok: true; runbook: Runbook } | { ok: false; errors: RunbookIssue[] };

/** Runbooks are small; a huge document is a mistake or an attack on the parser. */
const MAX_SOURCE_BYTES = 256 * 1024;
/** Bounds alias expansion ("billion laughs"). */
const MAX_ALIAS_COUNT = 100;

/**
 * YAML text -> a validated Runbook, or every problem found with the line and column of the node it
 * concerns and its path (`steps[3].timeout`). YAML syntax errors stop before validation.
 */
export function parseRunbook(yamlText: string): RunbookResult {
  if (Buffer.byteLength(yamlText) > MAX_SOURCE_BYTES) {
    return {
      ok: false,
      errors: [{ path: "(document)", message: "is larger than 256 KiB", line: 1, column: 1 }],
    };
  }
  const lines = new LineCounter();
  const doc = parseDocument(yamlText, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const errors = doc.errors.map((error): RunbookIssue => {
      const { line, col } = lines.linePos(error.pos[0]);
      return { path: "(yaml)", message: `YAML syntax: ${firstLine(error.message)}`, line, column: col };
    });
    return { ok: false, errors };
  }
  let input: unknown;
  try {
    input = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (error) {
    return { ok: false, errors: [{ path: "(yaml)", message: `YAML: ${String(error)}`, line: 1, column: 1 }] };
  }
  const parsed = runbookSchema.safeParse(input);
  if (parsed.success) return { ok: true, runbook: parsed.data };
  const errors = parsed.error.issues.flatMap((issue) => {
    // One entry per unknown key, positioned on the key itself.
    const paths =
      issue.code === "unrecognized_keys" ? issue.keys.map((k) => [...issue.path, k]) : [issue.path];
    return paths.map((path): RunbookIssue => {
      const keyOfLast = issue.code === "unrecognized_keys" || issue.code === "invalid_key";
      const message =
        issue.code === "unrecognized_keys"
          ? `unknown field "${String(path.at(-1))}"`
          : issueMessage(issue, input);
      return { path: formatPath(path), message, ...locate(doc, lines, path, keyOfLast) };
    });
  });
  errors.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
  return { ok: false, errors };
}

/** For documents that are already data (e.g. stored as JSON): the same checks, without line numbers. */
export function validateRunbook(input: unknown): RunbookResult {
  const parsed = runbookSchema.safeParse(input);
  if (parsed.success) return { ok: true, runbook: parsed.data };
  const errors = parsed.error.issues.map(
    (issue): RunbookIssue => ({ path: formatPath(issue.path), message: issueMessage(issue, input) }),
  );
  return { ok: false, errors };
}

/** parseRunbook that throws EbbError("runbook_invalid") with the issues as `details`. */
export function parseRunbookOrThrow(yamlText: string, source = "runbook"): Runbook {
  const result = parseRunbook(yamlText);
  if (result.ok) return result.runbook;
  throw new EbbError("runbook_invalid", `${source} is invalid:\n${formatIssues(result.errors)}`, {
    details: result.errors,
  });
}

/** "line 12, steps[3].timeout: duration "soon" cannot be read ..." one per line. */
export function formatIssues(issues: readonly RunbookIssue[]): string {
  return issues
    .map((i) => `${i.line === undefined ? "" : `line ${i.line}, `}${i.path}: ${i.message}`)
    .join("\n");
}

function firstLine(text: string): string {
  return text.split("\n")[0] ?? text;
}
