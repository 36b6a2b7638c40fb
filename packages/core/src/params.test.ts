import { describe, expect, it } from "vitest";
import { isEbbError } from "./errors.js";
import { commandSpecFor, execEnvTemplates } from "./exec.js";
import { buildCommandEnv, REDACTED, redact, redactRecord, resolveParams, secretValues } from "./params.js";
import { parseRunbookOrThrow } from "./runbook/parse.js";

const runbook = parseRunbookOrThrow(`apiVersion: ebb/v1
kind: Runbook
name: t
balancer: l4
params:
  docroot:
    default: /var/www/html
  token:
    secret: true
  port:
    default: 8080
    pattern: "[0-9]+"
env:
  DOCROOT: "\${params.docroot}"
steps:
  - id: deploy
    type: exec
    run: ["deploy-release"]
    env:
      RELEASE: "release-\${params.version}"
      WHERE: "\${target.host}:\${target.port}"
`);
const step = runbook.steps[0]!;
if (step.type !== "exec") throw new Error("fixture");
const target = { name: "vm1", host: "127.0.0.11", port: 8080 };

function expectParamError(fn: () => unknown, message: RegExp): void {
  try {
    fn();
    expect.unreachable();
  } catch (error) {
    expect(isEbbError(error, "param_invalid")).toBe(true);
    expect((error as Error).message).toMatch(message);
  }
}

describe("parameters reach commands only as environment variables", () => {
  it("a hostile version ends up verbatim in EBB_VERSION and nowhere else", () => {
    const version = "1.2.3; rm -rf /";
    const params = resolveParams(runbook.params, { token: "s3cret" });
    const env = buildCommandEnv({
      rolloutId: "r1",
      version,
      target,
      params,
      env: execEnvTemplates(runbook, step),
    });
    const spec = commandSpecFor(step, env, 60_000);
    expect(env.EBB_VERSION).toBe(version);
    // Only where the runbook explicitly asked for it, and only as an environment value.
    expect(env.RELEASE).toBe(`release-${version}`);
    const holders = Object.entries(env)
      .filter(([, v]) => v.includes(version))
      .map(([k]) => k);
    expect(holders.sort()).toEqual(["EBB_VERSION", "RELEASE"]);
    expect("argv" in spec && spec.argv).toEqual(["deploy-release"]);
    expect(JSON.stringify({ ...spec, env: {} })).not.toContain("rm -rf");
  });

  it("exports params as EBB_PARAM_<NAME> plus the fixed variables", () => {
    const params = resolveParams(runbook.params, { token: "s3cret" });
    const env = buildCommandEnv({
      rolloutId: "r1",
      version: "2.0.0",
      target,
      params,
      env: execEnvTemplates(runbook, step),
    });
    expect(env).toEqual({
      DOCROOT: "/var/www/html",
      RELEASE: "release-2.0.0",
      WHERE: "127.0.0.11:8080",
      EBB_PARAM_DOCROOT: "/var/www/html",
      EBB_PARAM_TOKEN: "s3cret",
      EBB_PARAM_PORT: "8080",
      EBB_TARGET_NAME: "vm1",
      EBB_TARGET_HOST: "127.0.0.11",
      EBB_TARGET_PORT: "8080",
      EBB_VERSION: "2.0.0",
      EBB_ROLLOUT_ID: "r1",
    });
  });

  it("refuses unknown, missing and malformed parameters, naming them", () => {
    expectParamError(
      () => resolveParams(runbook.params, { token: "t", nope: "x" }),
      /params\.nope is not declared/,
    );
    expectParamError(() => resolveParams(runbook.params, {}), /params\.token is required/);
    expectParamError(
      () => resolveParams(runbook.params, { token: "t", port: "80; x" }),
      /params\.port does not match/,
    );
    expectParamError(() => resolveParams(runbook.params, { token: "a\0b" }), /params\.token contains a NUL/);
    expectParamError(
      () => buildCommandEnv({ rolloutId: "r", version: "1", target, params: {}, env: { EBB_VERSION: "x" } }),
      /env\.EBB_VERSION is not an allowed/,
    );
    expectParamError(
      () =>
        buildCommandEnv({
          rolloutId: "r",
          version: "1",
          target,
          params: {},
          // biome-ignore lint/suspicious/noTemplateCurlyInString: Ebb's runbook template syntax, not JS
          env: { A: "${params.missing}" },
        }),
      /env\.A: parameter "missing" has no value/,
    );
  });

  it("the error for a bad value does not echo the value (it may be a secret)", () => {
    try {
      resolveParams(runbook.params, { token: "t", port: "hunter2" });
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).not.toContain("hunter2");
    }
  });

  it("redacts secret values from anything loggable", () => {
    const params = resolveParams(runbook.params, { token: "s3cret" });
    const secrets = secretValues(runbook.params, params);
    expect(secrets).toEqual(["s3cret"]);
    expect(redact("curl -H 'Authorization: s3cret' && echo s3cret", secrets)).toBe(
      `curl -H 'Authorization: ${REDACTED}' && echo ${REDACTED}`,
    );
    const env = buildCommandEnv({ rolloutId: "r", version: "1", target, params });
    expect(redactRecord(env, secrets).EBB_PARAM_TOKEN).toBe(REDACTED);
    expect(redact("nothing secret", [])).toBe("nothing secret");
  });
});
