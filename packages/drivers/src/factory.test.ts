import { isEbbError, type Target } from "@ebb/core";
import { freePort } from "@ebb/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSshd, type TestSshd } from "../test-support/sshd.js";
import { createExecutor } from "./factory.js";
import { LocalExecutor } from "./local/local-executor.js";
import { SshExecutor } from "./ssh/ssh-executor.js";

const PATH = "/usr/local/bin:/usr/bin:/bin";
let sshd: TestSshd;

beforeAll(async () => {
  sshd = await startSshd("127.0.6.2", await freePort("127.0.6.2"));
});
afterAll(() => sshd?.stop());

function target(executor: Target["executor"], host = "127.0.6.2"): Target {
  return { name: "vm1", host, port: 8080, executor, labels: {} };
}

async function errorOf(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => new Error("expected a rejection"),
    (err: unknown) => err,
  );
}

describe("createExecutor", () => {
  it("builds a local executor with the worker's base env plus the target's", async () => {
    const ex = await createExecutor(
      target("local"),
      { env: { APP_HOME: "/srv/app" } },
      { baseEnv: { PATH } },
    );
    expect(ex).toBeInstanceOf(LocalExecutor);
    const result = await ex.run({ argv: ["env"], env: { EBB_VERSION: "2.0.0" }, deadlineMs: 5000 });
    expect(result.outputTail.trim().split("\n").sort()).toEqual([
      "APP_HOME=/srv/app",
      "EBB_VERSION=2.0.0",
      `PATH=${PATH}`,
    ]);
    // No config at all is a valid local config.
    expect(await createExecutor(target("local"), undefined)).toBeInstanceOf(LocalExecutor);
  });

  it("builds an ssh executor from a key reference; host defaults to the target's", async () => {
    const ex = await createExecutor(
      target("ssh", sshd.host),
      { port: sshd.port, user: sshd.username, keyRef: "env:EBB_SSH_KEY", hostKey: sshd.hostKey },
      { keySources: { env: { EBB_SSH_KEY: sshd.clientKey.toString("utf8") } }, connectTimeoutMs: 5000 },
    );
    expect(ex).toBeInstanceOf(SshExecutor);
    const result = await ex.run({
      script: 'printf %s "$EBB_VERSION"',
      env: { EBB_VERSION: "2.0.0" },
      deadlineMs: 10_000,
    });
    expect(result).toMatchObject({ exitCode: 0, outputTail: "2.0.0" });
  });

  it("rejects bad configs with param_invalid naming the target and the field", async () => {
    const cases: [Target, unknown, string][] = [
      [target("ssh"), { user: "deploy", hostKey: sshd.hostKey }, "executor.keyRef"],
      [
        target("ssh"),
        { user: "deploy", keyRef: "env:K", hostKey: sshd.hostKey, port: 70000 },
        "executor.port",
      ],
      [
        target("ssh"),
        { user: "deploy", keyRef: "file:/nonexistent/key", hostKey: sshd.hostKey },
        'executor.keyRef: key reference "file:/nonexistent/key"',
      ],
      [target("local"), { cwd: "/tmp", shell: "bash" }, "executor.shell"],
      [target("local"), { env: { A: 1 } }, "executor.env.A"],
    ];
    for (const [t, config, field] of cases) {
      const err = await errorOf(createExecutor(t, config, { keySources: { env: {} } }));
      expect(isEbbError(err, "param_invalid")).toBe(true);
      expect((err as Error).message).toContain("target vm1");
      expect((err as Error).message).toContain(field);
    }
  });
});
