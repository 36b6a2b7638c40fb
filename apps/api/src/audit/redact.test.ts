import { describe, expect, it } from "vitest";
import { canonicalJson } from "./chain.js";
import { cleanText, looksSecret, MAX_SUMMARY_BYTES, REDACTED, redact, redactSummary } from "./redact.js";

const SSH_KEY = [
  "-----BEGIN OPENSSH PRIVATE KEY-----",
  "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
  "-----END OPENSSH PRIVATE KEY-----",
].join("\n");

const KUBECONFIG = `apiVersion: v1
kind: Config
clusters:
- cluster: { server: https://10.0.0.1:6443 }
  name: prod
users:
- name: admin
  user:
    client-key-data: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQ==
`;

describe("redact", () => {
  it("replaces the value of every secret-named key, at any depth, case-insensitively", () => {
    expect(
      redact({
        username: "alice",
        password: "hunter2hunter2",
        Passwd: "x",
        nested: { apiToken: "t", sshKey: "k", clientSecret: "s", kubeconfig: "x", Authorization: "Bearer x" },
        list: [{ credentials: { user: "u" } }, { cookie: "c" }],
        params: { SSH_PRIVATE_KEY: "k", VERSION: "2.0.0" },
      }),
    ).toEqual({
      username: "alice",
      password: REDACTED,
      Passwd: REDACTED,
      nested: {
        apiToken: REDACTED,
        sshKey: REDACTED,
        clientSecret: REDACTED,
        kubeconfig: REDACTED,
        Authorization: REDACTED,
      },
      list: [{ credentials: REDACTED }, { cookie: REDACTED }],
      params: { SSH_PRIVATE_KEY: REDACTED, VERSION: REDACTED },
    });
  });

  it("replaces secret-looking values under innocent keys: PEM blocks, kubeconfigs, Ebb tokens, bearer credentials, URL passwords", () => {
    const out = redact({
      note: SSH_KEY,
      config: KUBECONFIG,
      pasted: "ebb_AbCd1234_0123456789abcdefghijABCDEFGHIJ01",
      header: "Bearer abcdefghijklmnop",
      url: "postgres://ebb:s3cret@db:5432/ebb",
      slack: "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX",
      discord: "https://discord.com/api/webhooks/123/abcdef",
      fine: "https://example.test/artifact-2.0.0.tgz",
    });
    expect(out).toEqual({
      note: REDACTED,
      config: REDACTED,
      pasted: REDACTED,
      header: REDACTED,
      url: REDACTED,
      slack: REDACTED,
      discord: REDACTED,
      fine: "https://example.test/artifact-2.0.0.tgz",
    });
    expect(JSON.stringify(out)).not.toContain("BEGIN");
    expect(looksSecret("version 2.0.0 of lab")).toBe(false);
  });

  it("bounds strings, arrays, keys and depth; normalises what JSON cannot hold", () => {
    const out = redact({
      long: "x".repeat(1000),
      many: Array.from({ length: 30 }, (_, i) => i),
      deep: { a: { b: { c: { d: { e: { f: 1 } } } } } },
      when: new Date("2030-01-01T00:00:00.000Z"),
      big: 12n,
      nan: Number.POSITIVE_INFINITY,
      fn: () => 1,
      gone: undefined,
    }) as Record<string, unknown>;
    expect(out.long).toMatch(/^x{256}…\[\+744 chars\]$/);
    expect(out.many).toHaveLength(21);
    expect((out.many as unknown[])[20]).toBe("[+10 more]");
    expect(out.deep).toEqual({ a: { b: { c: { d: "[nested]" } } } });
    expect(out).toMatchObject({ when: "2030-01-01T00:00:00.000Z", big: "12", nan: null, fn: null });
    expect("gone" in out).toBe(false);
  });

  it("keeps a summary within a few KB, trimming its largest fields and keeping their keys", () => {
    const request = Object.fromEntries(Array.from({ length: 39 }, (_, i) => [`field${i}`, "y".repeat(250)]));
    const out = redactSummary({ route: "POST /rollouts", request, durationMs: 3 });
    expect(Buffer.byteLength(JSON.stringify(out))).toBeLessThanOrEqual(MAX_SUMMARY_BYTES);
    expect(out).toMatchObject({ route: "POST /rollouts", durationMs: 3 });
    expect(out.request).toMatch(/^\[\d+ bytes trimmed\]$/);
  });

  it("cleanText removes what PostgreSQL refuses (NUL, lone surrogates), also one a cut would create", () => {
    expect(cleanText("a\u0000b")).toBe("a\uFFFDb");
    expect(cleanText("x\ud800y\udc00z")).toBe("x\uFFFDy\uFFFDz");
    expect(cleanText("ok 🚀")).toBe("ok 🚀");
    // "🚀" is two UTF-16 units: a cut after the first leaves half a pair.
    expect(cleanText("ab🚀", 3)).toBe("ab\uFFFD…[+1 chars]");
  });
});

describe("canonicalJson", () => {
  it("sorts keys at every level and ignores insertion order", () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: 2 }], c: null } })).toBe(
      '{"a":{"c":null,"d":[2,{"y":2,"z":1}]},"b":1}',
    );
    expect(canonicalJson({ x: 1, y: 2 })).toBe(canonicalJson({ y: 2, x: 1 }));
    expect(canonicalJson({ u: undefined, n: Number.NaN })).toBe('{"n":null}');
  });
});
