import { RE2JS } from "re2js";

/**
 * Parameter patterns come from whoever may validate or store a runbook (read scope for
 * `POST /runbooks/validate`), and they run on the API's event loop. JavaScript's backtracking engine
 * takes exponential time on `(a+)+` and friends, so a pattern never reaches `RegExp`: it is compiled by
 * RE2JS (RE2's automaton, linear in the input, no backreferences or lookaround), and its length and
 * the length of what it is matched against are bounded, so one match costs at most a few milliseconds.
 */
export const MAX_PATTERN_LENGTH = 256;
/** The longest value a pattern is matched against (a parameter value is at most 4096 characters too). */
export const MAX_MATCHED_LENGTH = 4096;

export type CompiledPattern = { ok: true; test(value: string): boolean } | { ok: false; message: string };

const cache = new Map<string, CompiledPattern>();
const CACHE_SIZE = 256;

/** A whole-value matcher for a parameter `pattern`, or why the pattern is refused. */
export function compilePattern(pattern: string): CompiledPattern {
  const hit = cache.get(pattern);
  if (hit !== undefined) return hit;
  const compiled = compile(pattern);
  if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value as string);
  cache.set(pattern, compiled);
  return compiled;
}

function compile(pattern: string): CompiledPattern {
  if (pattern.length > MAX_PATTERN_LENGTH)
    return { ok: false, message: `is longer than ${MAX_PATTERN_LENGTH} characters` };
  let re: RE2JS;
  try {
    re = RE2JS.compile(`^(?:${pattern})$`);
  } catch (error) {
    return {
      ok: false,
      message: `is not a supported regular expression (RE2 syntax: no backreferences or lookaround): ${
        (error as Error).message
      }`,
    };
  }
  return {
    ok: true,
    test: (value) => value.length <= MAX_MATCHED_LENGTH && re.matches(value),
  };
}
