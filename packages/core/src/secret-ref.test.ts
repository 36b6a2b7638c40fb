import { afterEach, describe, expect, it } from "vitest";
import { isEbbError } from "./errors.js";
import { buildCommandEnv, resolveParams, secretValues } from "./params.js";
import { parseRunbook } from "./runbook/parse.js";
import { type SecretRef, setSecretResolver } from "./secret-ref.js";

const target = { name: "vm1", host: "127.0.0.11", port: 8080 };
const specs = { token: { secret: true }, region: { secret: false } };

afterEach(() => setSecretResolver(undefined));

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    expect(isEbbError(error, "param_invalid")).toBe(true);
    return error as Error;
  }
  throw new Error("expected a param_invalid error");
}

describe("secret parameters in http.check", () => {
  it("refuses a secret in an http.check URL or body match (they are recorded in the rollout's history)", () => {
    const result = parseRunbook(`apiVersion: ebb/v1
kind: Runbook
name: t
balancer: l4
params:
  token:
    secret: true
  path:
    default: /health
steps:
  - id: probe
    type: http.check
    url: "http://\${target.host}:\${target.port}\${params.path}?key=\${params.token}"
    bodyIncludes: "\${params.token}"
  - id: deploy
    type: exec
    run: ["deploy"]
    env:
      TOKEN: "\${params.token}"
`);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.map((e) => e.path)).toEqual(["steps[0].url", "steps[0].bodyIncludes"]);
    expect(result.errors[0]?.message).toMatch(/secret parameter \$\{params\.token\}/);
  });
});

describe("secret: references", () => {
  it("are kept as references when a rollout resolves its parameters, for secret parameters only", () => {
    expect(resolveParams(specs, { token: "secret:env:DEPLOY_TOKEN", region: "eu" })).toEqual({
      token: "secret:env:DEPLOY_TOKEN",
      region: "eu",
    });
    expect(errorOf(() => resolveParams(specs, { token: "x", region: "secret:env:HOME" })).message).toMatch(
      /params\.region is a secret reference, but the parameter is not declared secret/,
    );
    expect(
      errorOf(() => resolveParams(specs, { token: "secret:file:relative", region: "eu" })).message,
    ).toMatch(/params\.token secret:file: needs an absolute path/);
  });

  it("are resolved only where a command's environment is built, by the worker's resolver", () => {
    const params = { token: "secret:env:DEPLOY_TOKEN", region: "eu" };
    const input = { rolloutId: "r", version: "2", target, params, env: { AUTH: "Bearer ${params.token}" } };
    // No resolver (the API role): refused, and the error names the parameter, not a value.
    expect(errorOf(() => buildCommandEnv(input)).message).toMatch(
      /params\.token: .*resolved by a worker only/,
    );

    const asked: SecretRef[] = [];
    setSecretResolver((ref) => {
      asked.push(ref);
      return ref.source === "env" && ref.name === "DEPLOY_TOKEN" ? "s3cr3t-value" : undefined;
    });
    const env = buildCommandEnv(input);
    expect(env.EBB_PARAM_TOKEN).toBe("s3cr3t-value");
    expect(env.AUTH).toBe("Bearer s3cr3t-value");
    expect(asked[0]).toEqual({ source: "env", name: "DEPLOY_TOKEN" });
    // What a command prints is redacted for the resolved value too.
    expect(secretValues(specs, params)).toEqual(["secret:env:DEPLOY_TOKEN", "s3cr3t-value"]);

    const missing = { ...input, params: { token: "secret:env:NOT_SET", region: "eu" } };
    expect(errorOf(() => buildCommandEnv(missing)).message).toBe(
      "params.token: the secret's variable NOT_SET is not set on this worker",
    );
  });
});
