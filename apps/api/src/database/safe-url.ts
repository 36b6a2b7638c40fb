const REDACTED_QUERY_KEYS = new Set(["password", "sslpassword", "sslkey"]);

/**
 * The database URL without its password, for log lines and error messages. Handles both URLs
 * (`postgresql://user:pw@host/db?password=...`) and libpq key/value strings (`host=... password=...`).
 */
export function secretsSafeUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url.replace(/\b(password|sslpassword)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)/gi, "$1=***");
  }
  parsed.password = "";
  for (const key of [...parsed.searchParams.keys()]) {
    if (REDACTED_QUERY_KEYS.has(key.toLowerCase())) parsed.searchParams.set(key, "***");
  }
  return parsed.toString();
}
