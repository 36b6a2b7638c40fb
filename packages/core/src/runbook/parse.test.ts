import { describe, expect, it } from "vitest";
import { isEbbError } from "../errors.js";
import { parseRunbook, parseRunbookOrThrow, validateRunbook } from "./parse.js";

/** Lines are numbered from 1; the comments mark the line each test expects. */
const HEADER = `apiVersion: ebb/v1
kind: Runbook
name: test
balancer: l4
steps:
`;
const HEADER_LINES = 5;

function errorsOf(text: string) {
  const result = parseRunbook(text);
  if (result.ok) throw new Error("expected the runbook to be invalid");
  return result.errors;
}

describe("parseRunbook", () => {
  it("accepts a valid runbook and normalises durations to ms and defaults", () => {
    const result = parseRunbook(`${HEADER}  - id: a
    type: exec
    run: ["true"]
    timeout: 1m30s
  - id: quiet
    type: traffic.awaitQuiet
`);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const [exec, quiet] = result.runbook.steps;
    expect(exec).toMatchObject({ type: "exec", timeout: 90_000, onFailure: "halt", expectExit: [0] });
    expect(quiet).toMatchObject({ type: "traffic.awaitQuiet", holdFor: 2_000, maxNewSessions: 0 });
  });

  it("reports a YAML syntax error with its line", () => {
    const errors = errorsOf(`${HEADER}  - id: a
    type: exec
    run: ["true"
  - id: b
`);
    expect(errors[0]?.path).toBe("(yaml)");
    expect(errors[0]?.message).toMatch(/^YAML syntax/);
    // The unclosed flow sequence is detected on line 8 or at the next line; never on line 1.
    expect(errors[0]?.line).toBeGreaterThanOrEqual(HEADER_LINES + 3);
  });

  it("reports a duplicate key as a YAML error on the duplicate's line", () => {
    const errors = errorsOf(`${HEADER}  - id: a
    type: exec
    type: sleep
`);
    expect(errors[0]).toMatchObject({ path: "(yaml)", line: HEADER_LINES + 3 });
  });

  it("names path and line of a bad duration (steps[2].timeout)", () => {
    const errors = errorsOf(`${HEADER}  - id: a
    type: balancer.awaitUnbound
  - id: b
    type: balancer.awaitBound
  - id: c
    type: exec
    run: ["x"]
    timeout: soon
`);
    expect(errors).toEqual([
      expect.objectContaining({ path: "steps[2].timeout", line: HEADER_LINES + 8, column: 14 }),
    ]);
    expect(errors[0]?.message).toContain('"soon"');
  });

  it("explains a duration without unit", () => {
    const errors = errorsOf(`${HEADER}  - id: a
    type: sleep
    duration: 30
`);
    expect(errors).toEqual([expect.objectContaining({ path: "steps[0].duration", line: HEADER_LINES + 3 })]);
    expect(errors[0]?.message).toContain('"30s"');
  });

  it("names an unknown step type on its line and suggests the right one", () => {
    const errors = errorsOf(`${HEADER}  - id: a
    type: exec
    run: ["x"]
  - id: b
    type: balancer.awaitUbound
`);
    expect(errors).toEqual([expect.objectContaining({ path: "steps[1].type", line: HEADER_LINES + 5 })]);
    expect(errors[0]?.message).toContain('did you mean "balancer.awaitUnbound"');
  });

  it("points a missing `run` at the step that lacks it", () => {
    const errors = errorsOf(`${HEADER}  - id: a
    type: approval
  - id: b
    type: exec
    env:
      A: b
`);
    expect(errors).toEqual([
      expect.objectContaining({
        path: "steps[1].run",
        line: HEADER_LINES + 3,
        message: expect.stringContaining("run"),
      }),
    ]);
  });

  it("points an unknown field at its key and a missing required field at its parent", () => {
    const errors = errorsOf(`${HEADER}  - id: a
    type: sleep
    duration: 1s
    retries: 3
  - type: approval
`);
    expect(errors).toEqual([
      expect.objectContaining({ path: "steps[0].retries", line: HEADER_LINES + 4, column: 5 }),
      expect.objectContaining({ path: "steps[1].id", line: HEADER_LINES + 5, message: "is required" }),
    ]);
    expect(errors[0]?.message).toBe('unknown field "retries"');
  });

  it("reports top-level problems: wrong apiVersion, unknown balancer, empty steps", () => {
    const errors = errorsOf(`apiVersion: ebb/v2
kind: Runbook
name: test
balancer: f5
steps: []
`);
    expect(errors.map((e) => [e.path, e.line])).toEqual([
      ["apiVersion", 1],
      ["balancer", 4],
      ["steps", 5],
    ]);
    expect(errors[1]?.message).toBe('must be "l4" or "haproxy" or "kubernetes" or "command"');
  });

  it("cross-checks: duplicate ids, undeclared params, reserved names", () => {
    const errors = errorsOf(`apiVersion: ebb/v1
kind: Runbook
name: test
balancer: l4
params:
  version: {}
  docroot:
    default: /var/www/html
env:
  EBB_VERSION: x
steps:
  - id: a
    type: exec
    run: ["x"]
    env:
      DOCROOT: "\${params.docroot}"
      OTHER: "\${params.nope}"
  - id: a
    type: http.check
    url: "http://\${target.address}/"
`);
    expect(errors.map((e) => [e.path, e.line])).toEqual([
      ["params.version", 6],
      ["env.EBB_VERSION", 10],
      ["steps[0].env.OTHER", 17],
      ["steps[1].id", 18],
      ["steps[1].url", 20],
    ]);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Ebb's runbook template syntax, not JS
    expect(errors[2]?.message).toContain("${params.nope}");
    expect(errors[3]?.message).toContain("duplicate step id");
  });

  it("refuses a document that is not a mapping, and bounds aliases", () => {
    expect(errorsOf("just text")[0]).toMatchObject({ path: "(document)", line: 1 });
    const bomb = `a: &a [x, x, x, x, x, x, x, x, x, x]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
d: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
`;
    expect(errorsOf(bomb)[0]?.path).toBe("(yaml)");
  });

  it("parseRunbookOrThrow throws runbook_invalid with the issues as details", () => {
    try {
      parseRunbookOrThrow(`${HEADER}  - id: a\n    type: nope\n`, "my.yaml");
      expect.unreachable();
    } catch (error) {
      expect(isEbbError(error, "runbook_invalid")).toBe(true);
      expect(String((error as Error).message)).toMatch(/^my\.yaml is invalid:\nline 7, steps\[0\]\.type/);
    }
  });

  it("validateRunbook checks plain data with paths but no lines", () => {
    const result = validateRunbook({
      apiVersion: "ebb/v1",
      kind: "Runbook",
      name: "x",
      balancer: "l4",
      steps: [{}],
    });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors).toEqual([{ path: "steps[0].type", message: expect.any(String) }]);
  });
});
