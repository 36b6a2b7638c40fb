import { isEbbError } from "@ebb/core";
import { waitFor } from "@ebb/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { startHaproxyLab } from "../../test-support/haproxy-lab.js";
import { startL4Lab } from "../../test-support/l4-lab.js";
import { Teardown } from "../../test-support/teardown.js";
import { createBalancer } from "../registry.js";
import { CommandBalancer, parseStatusOutput } from "./balancer.js";

const teardown = new Teardown();
afterEach(() => teardown.run());

const baseEnv = { PATH: "/usr/local/bin:/usr/bin:/bin" };
const timing = { intervalMs: 100, retryCount: 1, checkTimeoutMs: 100, idleTimeoutMs: 6000 };

async function errorOf(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => new Error("expected a rejection"),
    (err: unknown) => err,
  );
}

// The two worked examples of docs/balancers/command.md, run for real.

/** The emulated L4 device's admin API, with curl and jq. */
function l4Commands(adminUrl: string) {
  return {
    disable: { script: 'curl -fsS -X POST "$L4_ADMIN/servers/$EBB_TARGET_NAME/disable" >/dev/null' },
    enable: { script: 'curl -fsS -X POST "$L4_ADMIN/servers/$EBB_TARGET_NAME/enable" >/dev/null' },
    status: {
      script:
        'curl -fsS "$L4_ADMIN/servers" | jq -c \'.[] | {name, bound, sessions: .counters.sessionsActive, requests: .counters.clientPackets, state: (if .adminState == "disabled" then "disabled" else .health end)}\'',
    },
    env: { L4_ADMIN: adminUrl },
    timing,
  };
}

/** HAProxy's stats socket, with socat and awk. */
function haproxyCommands(socket: string) {
  return {
    disable: {
      script:
        'echo "set server web/$EBB_TARGET_NAME state drain" | socat stdio "UNIX-CONNECT:$HAPROXY_SOCKET"',
    },
    enable: {
      script:
        'echo "set server web/$EBB_TARGET_NAME state ready" | socat stdio "UNIX-CONNECT:$HAPROXY_SOCKET"',
    },
    status: {
      script: `echo "show stat web 4 -1" | socat stdio "UNIX-CONNECT:$HAPROXY_SOCKET" | awk -F, 'NR > 1 && $2 != "" {
  st = ($18 ~ /^(DRAIN|MAINT)/) ? "disabled" : ($18 ~ /^DOWN/) ? "failed" : ($18 ~ /^UP [0-9]/) ? "suspect" : "up";
  printf "{\\"name\\":\\"%s\\",\\"bound\\":%s,\\"sessions\\":%d,\\"requests\\":%d,\\"state\\":\\"%s\\"}\\n", $2, (st == "up" || st == "suspect") ? "true" : "false", $5, $8, st }'`,
    },
    env: { HAPROXY_SOCKET: socket },
    timing,
  };
}

describe("CommandBalancer", () => {
  it("drives the emulated L4 device through its admin API with curl", async () => {
    const { device, targets } = await startL4Lab(teardown, ["vm1", "vm2"]);
    const balancer = new CommandBalancer({ config: l4Commands(device.adminUrl), baseEnv });
    const vm1 = targets.vm1!;
    await waitFor(async () => (await balancer.observe(vm1)).state === "up", { what: "vm1 up" });

    await balancer.admin.disable(vm1);
    expect(await balancer.observe(vm1)).toMatchObject({ state: "disabled", bound: false, sessions: 0 });
    expect(device.server("vm1")?.adminState).toBe("disabled");
    await balancer.admin.enable(vm1);
    await waitFor(async () => (await balancer.observe(vm1)).bound, { what: "vm1 bound again" });
    const snap = await balancer.snapshot([vm1, targets.vm2!, { ...vm1, name: "vm9" }]);
    expect(snap.map((s) => [s.name, s.state])).toEqual([
      ["vm1", "up"],
      ["vm2", "up"],
      ["vm9", "unknown"],
    ]);
  });

  it("drives HAProxy through its stats socket with socat", async () => {
    const lab = await startHaproxyLab(teardown, ["vm1", "vm2"]);
    const balancer = createBalancer(
      { name: "f", balancer: "command", balancerConfig: haproxyCommands(lab.haproxy.socketPath) },
      { baseEnv },
    );
    const vm1 = lab.targets.vm1!;
    await waitFor(async () => (await balancer.observe(vm1)).state === "up", { what: "vm1 up" });
    await balancer.admin!.disable(vm1);
    expect(await balancer.observe(vm1)).toMatchObject({ state: "disabled", bound: false });
    expect(await balancer.traffic(vm1)).toMatchObject({ activeSessions: 0, newSessions: 0 });
    await balancer.admin!.enable(vm1);
    expect(await balancer.observe(vm1)).toMatchObject({ state: "up", bound: true });
  });

  it("names the bad field of a status line, and a command that fails", async () => {
    expect(() =>
      parseStatusOutput(
        '{"name":"vm1","bound":true,"sessions":0}\n{"name":"vm2","bound":"yes","sessions":0}',
      ),
    ).toThrow(/status line 2: bound: /);
    expect(() => parseStatusOutput('{"name":"vm1","bound":true,"sessions":-1}')).toThrow(
      /status line 1: sessions: /,
    );
    expect(() => parseStatusOutput('{"name":"vm1","bound":true,"sessions":0,"weight":3}')).toThrow(
      /status line 1: weight: /,
    );
    expect(() => parseStatusOutput("vm1 up")).toThrow(/status line 1 is not JSON/);

    const failing = new CommandBalancer({
      config: {
        disable: { argv: ["false"] },
        enable: { argv: ["true"] },
        status: {
          script: 'echo "{\\"name\\":\\"$EBB_TARGETS\\",\\"bound\\":true,\\"sessions\\":\\"many\\"}"',
        },
        timing,
      },
      baseEnv,
    });
    const target = { name: "vm1", host: "127.0.0.1", port: 1, executor: "local" as const, labels: {} };
    const bad = await errorOf(failing.observe(target));
    expect(isEbbError(bad) && bad.retryable).toBe(false);
    expect((bad as Error).message).toContain("status line 1: sessions:");
    const exit = await errorOf(failing.admin.disable(target));
    expect((exit as Error).message).toContain(
      "the disable command (balancerConfig.disable) for vm1 exited with 1",
    );

    const config = (() => {
      try {
        createBalancer({ name: "f", balancer: "command", balancerConfig: { disable: { argv: [] }, timing } });
      } catch (e) {
        return e;
      }
    })();
    expect((config as Error).message).toMatch(
      /fleet f: invalid command balancerConfig: .*balancerConfig\.enable/,
    );
  });
});
