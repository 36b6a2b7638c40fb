import { ERROR_KINDS, type ErrorKind, type RequestOutcome } from "./types.js";

export function emptyErrors(): Record<ErrorKind, number> {
  return Object.fromEntries(ERROR_KINDS.map((k) => [k, 0])) as Record<ErrorKind, number>;
}

/** Counters for one window (a second, or the whole run). */
export class Tally {
  requests = 0;
  ok = 0;
  newConnections = 0;
  readonly errors = emptyErrors();
  // Maps, not plain objects: host/version come from response bodies and "__proto__" must stay a plain key.
  private readonly servers = new Map<string, number>();
  private readonly versions = new Map<string, number>();

  add(outcome: RequestOutcome): void {
    this.requests++;
    if (outcome.error) this.errors[outcome.error.kind]++;
    else this.ok++;
    if (outcome.response) {
      bump(this.servers, outcome.response.host);
      bump(this.versions, outcome.response.version);
    }
  }

  connectionOpened(): void {
    this.newConnections++;
  }

  byServer(): Record<string, number> {
    return Object.fromEntries(this.servers);
  }

  byVersion(): Record<string, number> {
    return Object.fromEntries(this.versions);
  }

  errorsCopy(): Record<ErrorKind, number> {
    return { ...this.errors };
  }
}

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}
