import { type Document, isAlias, isMap, isPair, isScalar, isSeq, type LineCounter, type Node } from "yaml";

export interface Location {
  line: number;
  column: number;
}

/**
 * Finds the line of the YAML node a validation issue points at. When the path runs past what exists
 * (a missing field), the deepest existing node is used: for a step without `run`, that is the step.
 * With `keyOfLast`, the position of the last key itself (an unknown field) rather than its value.
 */
export function locate(
  doc: Document,
  lines: LineCounter,
  path: readonly PropertyKey[],
  keyOfLast = false,
): Location {
  let node: unknown = doc.contents;
  let found: unknown = node;
  for (const [index, segment] of path.entries()) {
    if (isAlias(node)) node = node.resolve(doc);
    const last = index === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && scalarKey(p.key) === String(segment));
      if (pair === undefined) break;
      node = last && keyOfLast ? pair.key : pair.value;
    } else if (isSeq(node) && typeof segment === "number") {
      node = node.items[segment];
    } else {
      break;
    }
    if (node === undefined || node === null) break;
    found = node;
  }
  return position(found, lines);
}

function scalarKey(key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value);
  return typeof key === "string" ? key : undefined;
}

function position(node: unknown, lines: LineCounter): Location {
  const range = (node as Node | null | undefined)?.range;
  const { line, col } = lines.linePos(range?.[0] ?? 0);
  return { line, column: col };
}
