import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { loadBuiltinRunbooks } from "./builtins.js";
import { runbookJsonSchema } from "./json-schema.js";

const committed = fileURLToPath(new URL("../../../../docs/runbook.schema.json", import.meta.url));

describe("docs/runbook.schema.json", () => {
  it("is the runbook schema as it is now (else: npm run schema:runbook, and commit the file)", () => {
    // Compared as JSON, not bytes: Biome formats the file.
    expect(JSON.parse(readFileSync(committed, "utf8"))).toEqual(runbookJsonSchema());
  });

  it("describes what the built-in runbooks use: every step type, durations as written", () => {
    const text = JSON.stringify(runbookJsonSchema());
    for (const runbook of Object.values(loadBuiltinRunbooks())) {
      for (const step of runbook.steps) expect(text, step.type).toContain(`"const":"${step.type}"`);
    }
    expect(text).toContain('"const":"ebb/v1"');
  });
});
