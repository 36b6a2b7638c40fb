import { z } from "zod";

/** `host:port`, e.g. `127.0.0.1:8080`. */
const hostPort = z
  .string()
  .regex(/^[0-9.]+:\d{1,5}$/, "expected host:port, e.g. 127.0.0.1:8080")
  .transform((s) => {
    const i = s.lastIndexOf(":");
    return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
  });

/** `true|false|1|0|yes|no|on|off`; anything else is refused (z.coerce.boolean would read "false" as true). */
const flag = z
  .enum(["true", "false", "1", "0", "yes", "no", "on", "off"])
  .transform((v) => v === "true" || v === "1" || v === "yes" || v === "on");

const labEnvSchema = z.object({
  EBB_LAB_DIR: z.string().min(1).default(".lab"),
  EBB_LAB_VMS: z.coerce.number().int().min(1).max(200).default(4),
  EBB_LAB_VM_FIRST_HOST: z.ipv4().default("127.0.0.11"),
  EBB_LAB_VM_PORT: z.coerce.number().int().min(1).max(65535).default(8080),
  // 0.1 turns the device's real 10 s check interval into 1 s and its 600 s aging into 60 s: a drain is
  // still visible on the dashboard, but a 4-VM rollout takes a minute rather than ten.
  EBB_LAB_TIME_SCALE: z.coerce.number().positive().max(1).default(0.1),
  EBB_L4_VIP: hostPort.default({ host: "127.0.0.1", port: 8080 }),
  EBB_L4_ADMIN: hostPort.default({ host: "127.0.0.1", port: 8081 }),
  EBB_LAB_VERSION: z.string().default("1.0.0"),
  EBB_DASHBOARD_HOST: z.string().min(1).default("127.0.0.1"),
  EBB_DASHBOARD_PORT: z.coerce.number().int().min(1).max(65535).default(3000),
  // The emulated Kubernetes cluster (the lab-pods fleet); EBB_K8S=off leaves it out.
  EBB_K8S: z.enum(["on", "off"]).default("on"),
  EBB_K8S_API: hostPort.default({ host: "127.0.0.1", port: 6443 }),
  EBB_K8S_PROXY: hostPort.default({ host: "127.0.0.1", port: 8090 }),
  EBB_K8S_POD_FIRST_HOST: z.ipv4().default("127.0.0.21"),
  // kube-proxy's lag behind the EndpointSlices, in real milliseconds (not time-scaled).
  EBB_K8S_PROPAGATION_MS: z.coerce.number().int().min(0).max(600_000).default(2_000),
  EBB_K8S_SIDECAR: flag.default(false),
  // A real HAProxy (lab-haproxy) when `haproxy` is on PATH; EBB_HAPROXY=off leaves it out.
  EBB_HAPROXY: z.enum(["on", "off"]).default("on"),
  EBB_HAPROXY_VIP: hostPort.default({ host: "127.0.0.1", port: 8082 }),
  EBB_HAPROXY_VM_FIRST_HOST: z.ipv4().default("127.0.0.31"),
  EBB_HAPROXY_MODE: z.enum(["tcp", "http"]).default("tcp"),
  // The lab-deploy fleet: a Deployment with the drain hook, behind its own proxy; EBB_K8S_DEPLOY=off leaves it out.
  EBB_K8S_DEPLOY: z.enum(["on", "off"]).default("on"),
  EBB_K8S_DEPLOY_PROXY: hostPort.default({ host: "127.0.0.1", port: 8091 }),
  EBB_K8S_DEPLOY_FIRST_HOST: z.ipv4().default("127.0.0.41"),
});

export interface LabConfig {
  labDir: string;
  vms: number;
  vmFirstHost: string;
  vmPort: number;
  timeScale: number;
  vip: { host: string; port: number };
  admin: { host: string; port: number };
  version: string;
  dashboard: { host: string; port: number };
  /** The emulated cluster; null when EBB_K8S=off. */
  k8s: {
    api: { host: string; port: number };
    proxy: { host: string; port: number };
    podFirstHost: string;
    propagationDelayMs: number;
    sidecar: boolean;
    /** The lab-deploy Deployment; null when EBB_K8S_DEPLOY=off. */
    deploy: { proxy: { host: string; port: number }; podFirstHost: string } | null;
  } | null;
  /** The real HAProxy lab; null when EBB_HAPROXY=off (it is also skipped when haproxy is not installed). */
  haproxy: { vip: { host: string; port: number }; vmFirstHost: string; mode: "tcp" | "http" } | null;
}

/** Parses the lab's environment once; an invalid variable is named in the error. */
export function parseLabConfig(env: Record<string, string | undefined>): LabConfig {
  const parsed = labEnvSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
    throw new Error(`invalid lab configuration:\n${lines.join("\n")}`);
  }
  const e = parsed.data;
  return {
    labDir: e.EBB_LAB_DIR,
    vms: e.EBB_LAB_VMS,
    vmFirstHost: e.EBB_LAB_VM_FIRST_HOST,
    vmPort: e.EBB_LAB_VM_PORT,
    timeScale: e.EBB_LAB_TIME_SCALE,
    vip: e.EBB_L4_VIP,
    admin: e.EBB_L4_ADMIN,
    version: e.EBB_LAB_VERSION,
    dashboard: { host: e.EBB_DASHBOARD_HOST, port: e.EBB_DASHBOARD_PORT },
    k8s:
      e.EBB_K8S === "off"
        ? null
        : {
            api: e.EBB_K8S_API,
            proxy: e.EBB_K8S_PROXY,
            podFirstHost: e.EBB_K8S_POD_FIRST_HOST,
            propagationDelayMs: e.EBB_K8S_PROPAGATION_MS,
            sidecar: e.EBB_K8S_SIDECAR,
            deploy:
              e.EBB_K8S_DEPLOY === "off"
                ? null
                : { proxy: e.EBB_K8S_DEPLOY_PROXY, podFirstHost: e.EBB_K8S_DEPLOY_FIRST_HOST },
          },
    haproxy:
      e.EBB_HAPROXY === "off"
        ? null
        : { vip: e.EBB_HAPROXY_VIP, vmFirstHost: e.EBB_HAPROXY_VM_FIRST_HOST, mode: e.EBB_HAPROXY_MODE },
  };
}
