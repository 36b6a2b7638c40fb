import { describe, expect, it } from "vitest";
import { isEbbError } from "../errors.js";
import { resolveParams } from "../params.js";
import { parseRunbook } from "./parse.js";
import { MAX_PATTERN_LENGTH } from "./safe-pattern.js";

function runbookWith(pattern: string, defaultValue: string): string {
  return `apiVersion: ebb/v1
kind: Runbook
name: t
balancer: l4
params:
  x:
    pattern: ${JSON.stringify(pattern)}
    default: ${JSON.stringify(defaultValue)}
steps:
  - id: s
    type: exec
    run: ["true"]
`;
}

function issuesOf(source: string): { path: string; message: string }[] {
  const result = parseRunbook(source);
  return result.ok ? [] : result.errors.map((e) => ({ path: e.path, message: e.message }));
}

// With JavaScript's backtracking RegExp each of these takes 2^n steps: at n = 64 the process never
// answers again (and the test never ends), which is how this suite goes red on the naive engine.
const EVIL = `${"a".repeat(64)}!`;

describe("parameter patterns (POST /runbooks/validate runs them on the API's event loop)", () => {
  it("given a catastrophic pattern, validation still answers: the default does not match", () => {
    for (const pattern of ["(a+)+", "(a|a)*", "(a|aa)+", "(.*a){12}"]) {
      expect(issuesOf(runbookWith(pattern, EVIL))).toEqual([
        { path: "params.x.default", message: `does not match pattern /${pattern}/` },
      ]);
    }
  });

  it("matches the whole value, as before", () => {
    expect(issuesOf(runbookWith("[0-9]+", "8080"))).toEqual([]);
    expect(issuesOf(runbookWith("[0-9]+", "8080x"))).toHaveLength(1);
  });

  it("refuses backreferences and lookaround (no linear-time engine runs them), naming the field", () => {
    for (const pattern of ["(a)\\1", "(?=a)a", "a(?!b)"]) {
      const issues = issuesOf(runbookWith(pattern, "a"));
      expect(issues).toHaveLength(1);
      expect(issues[0]?.path).toBe("params.x.pattern");
      expect(issues[0]?.message).toMatch(/not a supported regular expression/);
    }
  });

  it("refuses a pattern longer than the limit", () => {
    const issues = issuesOf(runbookWith(`${"a?".repeat(MAX_PATTERN_LENGTH)}a`, "a"));
    expect(issues).toEqual([
      { path: "params.x.pattern", message: `is longer than ${MAX_PATTERN_LENGTH} characters` },
    ]);
  });

  it("a supplied value is checked by the same bounded engine when a rollout resolves its parameters", () => {
    try {
      resolveParams({ x: { secret: false, pattern: "(a+)+" } }, { x: EVIL });
      expect.unreachable();
    } catch (error) {
      expect(isEbbError(error, "param_invalid")).toBe(true);
      expect((error as Error).message).toMatch(/params\.x does not match/);
    }
  });
});
