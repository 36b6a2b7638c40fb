import { z } from "zod";
import { BALANCER_KINDS } from "../facts.js";
import { BUILTIN_PARAMS, PARAM_NAME } from "../param-names.js";
import { TemplateError, templateRefs } from "../template.js";
import { envField, STEP_ID, scalarString } from "./fields.js";
import { compilePattern } from "./safe-pattern.js";
import { type Step, stepSchema } from "./steps.js";

const paramSpecSchema = z
  .strictObject({
    default: scalarString.optional(),
    description: z.string().optional(),
    secret: z.boolean().default(false),
    pattern: z.string().min(1).optional(),
  })
  .superRefine((spec, ctx) => {
    if (spec.pattern === undefined) return;
    const re = compilePattern(spec.pattern);
    if (!re.ok) {
      ctx.addIssue({ code: "custom", path: ["pattern"], message: re.message });
      return;
    }
    if (spec.default !== undefined && !re.test(spec.default)) {
      ctx.addIssue({
        code: "custom",
        path: ["default"],
        message: `does not match pattern /${spec.pattern}/`,
      });
    }
  });

export const runbookSchema = z
  .strictObject({
    apiVersion: z.literal("ebb/v1"),
    kind: z.literal("Runbook"),
    name: z.string().regex(STEP_ID, "must be lowercase letters, digits and dashes"),
    version: scalarString.optional(),
    description: z.string().optional(),
    /** The kind of balancer this runbook is written for. */
    balancer: z.enum(BALANCER_KINDS),
    params: z
      .record(z.string().regex(PARAM_NAME, "must be snake_case (a-z, 0-9, _)"), paramSpecSchema)
      .default({}),
    /** Environment for every exec step (a step's own `env` wins). Values may hold templates. */
    env: envField.default({}),
    steps: z.array(stepSchema).min(1, "a runbook needs at least one step"),
    /**
     * A client error (a reset) the balancer counts for a target between its take-out and its return fails
     * the target, so a broken drain stops the rollout instead of passing quietly.
     */
    failOnClientErrors: z.boolean().default(false),
    /**
     * What a failed target does to the rollout: `halt` (stop, keep the leases for retry or abort) or
     * `rollback` (take the targets already moved back to their previous version, then end `rolled_back`).
     * A rollout request may override it.
     */
    onFailure: z.enum(["halt", "rollback"]).default("halt"),
  })
  .superRefine((runbook, ctx) => {
    for (const name of Object.keys(runbook.params)) {
      if ((BUILTIN_PARAMS as readonly string[]).includes(name)) {
        ctx.addIssue({
          code: "custom",
          path: ["params", name],
          message: `"${name}" is built in (the rollout's version, \${params.version}, env EBB_VERSION)`,
        });
      }
    }
    const declared = new Set([...Object.keys(runbook.params), ...BUILTIN_PARAMS]);
    const seen = new Map<string, number>();
    runbook.steps.forEach((step, index) => {
      const first = seen.get(step.id);
      if (first !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["steps", index, "id"],
          message: `duplicate step id "${step.id}" (also steps[${first}])`,
        });
      } else {
        seen.set(step.id, index);
      }
      for (const [path, text] of templatedFields(step)) {
        const problem =
          templateProblem(text, declared) ??
          (step.type === "exec" ? undefined : secretRefProblem(text, runbook.params));
        if (problem !== undefined)
          ctx.addIssue({ code: "custom", path: ["steps", index, ...path], message: problem });
      }
    });
    for (const [name, text] of Object.entries(runbook.env)) {
      const problem = templateProblem(text, declared);
      if (problem !== undefined) ctx.addIssue({ code: "custom", path: ["env", name], message: problem });
    }
  });

/** A validated runbook: defaults applied, every duration in milliseconds. */
export type Runbook = z.output<typeof runbookSchema>;
/** The document as written (durations as "30s"). */
export type RunbookInput = z.input<typeof runbookSchema>;

/** A declared runbook parameter. `secret` values are redacted from everything loggable. */
export type ParamSpec = z.output<typeof paramSpecSchema>;

/** The fields where `${...}` references are expanded; everywhere else they stay literal text. */
function templatedFields(step: Step): [(string | number)[], string][] {
  const fields: [(string | number)[], string][] = [];
  if (step.type === "exec") {
    for (const [name, value] of Object.entries(step.env ?? {})) fields.push([["env", name], value]);
  }
  if (step.type === "http.check") {
    if (step.url !== undefined) fields.push([["url"], step.url]);
    if (step.bodyIncludes !== undefined) fields.push([["bodyIncludes"], step.bodyIncludes]);
  }
  if (step.type === "analysis" && step.query !== undefined) fields.push([["query"], step.query]);
  return fields;
}

/**
 * A secret may reach a command's environment only (its output is redacted there). An http.check URL or
 * body match is recorded as the step's observation, in the rollout's state, its event stream and the
 * audit history, so a secret spliced into one would be stored in clear in all of them.
 */
function secretRefProblem(text: string, params: Readonly<Record<string, ParamSpec>>): string | undefined {
  try {
    for (const ref of templateRefs(text)) {
      if (ref.kind === "param" && params[ref.name]?.secret === true) {
        return `references the secret parameter \${params.${ref.name}}: secrets may only reach an exec step's env (a URL or body match is recorded in the rollout's history)`;
      }
    }
  } catch {
    // templateProblem reports a malformed template.
  }
  return undefined;
}

function templateProblem(text: string, declared: ReadonlySet<string>): string | undefined {
  try {
    for (const ref of templateRefs(text)) {
      if (ref.kind === "param" && !declared.has(ref.name)) {
        return `references \${params.${ref.name}}, which the runbook does not declare under params`;
      }
    }
    return undefined;
  } catch (error) {
    if (error instanceof TemplateError) return error.message;
    throw error;
  }
}
