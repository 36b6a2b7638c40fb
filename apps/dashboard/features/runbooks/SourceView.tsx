import type { RunbookIssue } from "../../lib/api/types";

/** Line ranges (1-based, inclusive) to show: everything, or `context` lines around each marked line. */
function chunks(total: number, marked: number[], context: number | undefined): [number, number][] {
  if (context === undefined) return total === 0 ? [] : [[1, total]];
  const out: [number, number][] = [];
  for (const n of [...marked].sort((a, b) => a - b)) {
    const from = Math.max(1, n - context);
    const to = Math.min(total, n + context);
    const last = out[out.length - 1];
    if (last && from <= last[1] + 1) last[1] = Math.max(last[1], to);
    else out.push([from, to]);
  }
  return out;
}

/**
 * YAML with line numbers; each issue is shown under the line it names, and all of them are listed above
 * the source so none is missed below the fold (a problem with the document as a whole has no line).
 */
export function SourceView({
  source,
  issues = [],
  label,
  context,
}: {
  source: string;
  issues?: RunbookIssue[];
  label: string;
  /** Show only this many lines around each line with an issue (a draft's problems), not the whole source. */
  context?: number;
}) {
  const byLine = new Map<number, RunbookIssue[]>();
  const general: RunbookIssue[] = [];
  const lines = source.split("\n");
  for (const issue of issues) {
    if (issue.line !== undefined && issue.line >= 1 && issue.line <= lines.length) {
      byLine.set(issue.line, [...(byLine.get(issue.line) ?? []), issue]);
    } else general.push(issue);
  }
  return (
    <section className="source" aria-label={label} data-testid="source-view">
      {issues.length > 0 && (
        <ul className="issues" aria-label="Problems">
          {general.map((i) => (
            <li key={`${i.path}-${i.message}`} className="issue">
              {i.path && <code>{i.path}</code>} {i.message}
            </li>
          ))}
          {[...byLine.entries()]
            .sort((a, b) => a[0] - b[0])
            .flatMap(([n, list]) =>
              list.map((i) => (
                <li key={`${n}-${i.path}-${i.message}`} className="issue">
                  line {n}
                  {i.path ? ` (${i.path})` : ""}: {i.message}
                </li>
              )),
            )}
        </ul>
      )}
      {chunks(lines.length, [...byLine.keys()], context).map(([from, to], c) => (
        <div key={from}>
          {c > 0 && (
            <p className="lines-gap muted" aria-hidden="true">
              ⋯
            </p>
          )}
          <ol className="lines mono" start={from}>
            {lines.slice(from - 1, to).map((text, i) => {
              const n = from + i;
              const here = byLine.get(n);
              return (
                <li key={n} className={here ? "line line-issue" : "line"} data-line={n}>
                  <span className="line-text">{text || " "}</span>
                  {here?.map((issue) => (
                    <span key={`${issue.path}-${issue.message}`} className="issue" role="note">
                      line {n}
                      {issue.path ? ` (${issue.path})` : ""}: {issue.message}
                    </span>
                  ))}
                </li>
              );
            })}
          </ol>
        </div>
      ))}
    </section>
  );
}
