// Writes docs/runbook.schema.json from the runbook's zod schema (packages/core/src/runbook/schema.ts), the
// JSON Schema editors use through `# yaml-language-server: $schema=...`. `npm run schema:runbook` builds
// core first and formats the file with Biome; packages/core/src/runbook/json-schema.test.ts fails when the
// committed file no longer matches the schema.
import { writeFileSync } from "node:fs";
import { runbookJsonSchema } from "@ebb/core";

const target = new URL("../docs/runbook.schema.json", import.meta.url);
writeFileSync(target, `${JSON.stringify(runbookJsonSchema(), null, 2)}\n`);
console.log(`wrote ${target.pathname}`);
