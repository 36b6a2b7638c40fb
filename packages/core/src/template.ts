/**
 * `${params.<name>}` and `${target.name|host|port}` references. They are only ever expanded into
 * environment-variable values and probe settings (URL, expected body), never into argv or shell
 * text: a parameter can therefore hold anything (`1.2.3; rm -rf /`) without being executed.
 */

export const TARGET_FIELDS = ["name", "host", "port"] as const;
export type TargetField = (typeof TARGET_FIELDS)[number];

export type TemplateRef = { kind: "param"; name: string } | { kind: "target"; field: TargetField };

export interface TemplateContext {
  /** Resolved parameters, including the built-in `version`. */
  params: Readonly<Record<string, string>>;
  target: { name: string; host: string; port: number };
}

const REF = /\$\{([^}]*)\}/g;
const PARAM_REF = /^params\.([a-z][a-z0-9_]*)$/;
const TARGET_REF = /^target\.([a-z]+)$/;

export class TemplateError extends Error {
  override readonly name = "TemplateError";
}

/** Every reference in `text`; throws TemplateError naming the first malformed one. */
export function templateRefs(text: string): TemplateRef[] {
  const refs: TemplateRef[] = [];
  for (const match of text.matchAll(REF)) {
    refs.push(parseRef(match[1] ?? ""));
  }
  const unclosed = text.replace(REF, "").indexOf("${");
  if (unclosed >= 0) throw new TemplateError(`unclosed "\${" in ${JSON.stringify(text)}`);
  return refs;
}

export function renderTemplate(text: string, context: TemplateContext): string {
  return text.replace(REF, (_whole, inner: string) => {
    const ref = parseRef(inner);
    if (ref.kind === "target") return String(context.target[ref.field]);
    const value = context.params[ref.name];
    if (value === undefined) throw new TemplateError(`parameter "${ref.name}" has no value`);
    return value;
  });
}

function parseRef(inner: string): TemplateRef {
  const expr = inner.trim();
  const param = PARAM_REF.exec(expr);
  if (param?.[1] !== undefined) return { kind: "param", name: param[1] };
  const target = TARGET_REF.exec(expr);
  const field = target?.[1];
  if (field !== undefined && (TARGET_FIELDS as readonly string[]).includes(field)) {
    return { kind: "target", field: field as TargetField };
  }
  throw new TemplateError(
    `unknown reference "\${${inner}}" (use \${params.<name>} or \${target.name|host|port})`,
  );
}
