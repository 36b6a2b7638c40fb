import { describe, expect, it } from "vitest";
import { parseLabConfig } from "./config.js";

describe("the lab's environment", () => {
  it("starts the emulated cluster on the defaults table's addresses unless told otherwise", () => {
    expect(parseLabConfig({}).k8s).toEqual({
      api: { host: "127.0.0.1", port: 6443 },
      proxy: { host: "127.0.0.1", port: 8090 },
      podFirstHost: "127.0.0.21",
      propagationDelayMs: 2_000,
      sidecar: false,
      deploy: { proxy: { host: "127.0.0.1", port: 8091 }, podFirstHost: "127.0.0.41" },
    });
    expect(
      parseLabConfig({
        EBB_K8S_API: "127.0.0.2:7443",
        EBB_K8S_PROXY: "127.0.0.2:9090",
        EBB_K8S_POD_FIRST_HOST: "127.0.0.31",
        EBB_K8S_PROPAGATION_MS: "500",
        EBB_K8S_SIDECAR: "true",
        EBB_K8S_DEPLOY_PROXY: "127.0.0.2:9091",
        EBB_K8S_DEPLOY_FIRST_HOST: "127.0.0.61",
      }).k8s,
    ).toEqual({
      api: { host: "127.0.0.2", port: 7443 },
      proxy: { host: "127.0.0.2", port: 9090 },
      podFirstHost: "127.0.0.31",
      propagationDelayMs: 500,
      sidecar: true,
      deploy: { proxy: { host: "127.0.0.2", port: 9091 }, podFirstHost: "127.0.0.61" },
    });
    expect(parseLabConfig({ EBB_K8S_DEPLOY: "off" }).k8s?.deploy).toBeNull();
    expect(parseLabConfig({ EBB_K8S_SIDECAR: "false" }).k8s?.sidecar).toBe(false);
    expect(parseLabConfig({ EBB_K8S: "off" }).k8s).toBeNull();
  });

  it("names the variable it refuses", () => {
    expect(() => parseLabConfig({ EBB_K8S_SIDECAR: "maybe" })).toThrow(/EBB_K8S_SIDECAR/);
    expect(() => parseLabConfig({ EBB_K8S_API: "localhost" })).toThrow(/EBB_K8S_API: expected host:port/);
    expect(() => parseLabConfig({ EBB_K8S_PROPAGATION_MS: "-1" })).toThrow(/EBB_K8S_PROPAGATION_MS/);
  });

  it("puts the HAProxy lab on the defaults table's VIP and VMs unless told otherwise", () => {
    expect(parseLabConfig({}).haproxy).toEqual({
      vip: { host: "127.0.0.1", port: 8082 },
      vmFirstHost: "127.0.0.31",
      mode: "tcp",
    });
    expect(
      parseLabConfig({ EBB_HAPROXY_MODE: "http", EBB_HAPROXY_VIP: "127.0.0.2:9082" }).haproxy,
    ).toMatchObject({
      vip: { host: "127.0.0.2", port: 9082 },
      mode: "http",
    });
    expect(parseLabConfig({ EBB_HAPROXY: "off" }).haproxy).toBeNull();
    expect(() => parseLabConfig({ EBB_HAPROXY_MODE: "udp" })).toThrow(/EBB_HAPROXY_MODE/);
  });
});
