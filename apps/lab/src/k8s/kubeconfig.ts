import { writeFile } from "node:fs/promises";

export interface KubeconfigSpec {
  server: string;
  namespace?: string;
  /** Context, cluster and user name; default "ebb-lab". */
  name?: string;
  token?: string;
}

/**
 * A kubeconfig for the emulator (plain HTTP, no client certificates). JSON is valid YAML, and kubectl and
 * client-node both read it.
 */
export function kubeconfigText(spec: KubeconfigSpec): string {
  const name = spec.name ?? "ebb-lab";
  const config = {
    apiVersion: "v1",
    kind: "Config",
    // client-node 2.x refuses a plain-HTTP server unless TLS verification is explicitly off.
    clusters: [{ name, cluster: { server: spec.server, "insecure-skip-tls-verify": true } }],
    users: [{ name, user: spec.token ? { token: spec.token } : {} }],
    contexts: [
      {
        name,
        context: { cluster: name, user: name, ...(spec.namespace ? { namespace: spec.namespace } : {}) },
      },
    ],
    "current-context": name,
    preferences: {},
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

/** Writes the kubeconfig with owner-only permissions: it may hold a token. */
export async function writeKubeconfig(file: string, spec: KubeconfigSpec): Promise<string> {
  await writeFile(file, kubeconfigText(spec), { mode: 0o600 });
  return file;
}
