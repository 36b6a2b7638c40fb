import { EbbError } from "@ebb/core";
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  DiscoveryV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from "@kubernetes/client-node";
import type { KubernetesConfig } from "./config.js";

export interface KubeClients {
  kc: KubeConfig;
  core: CoreV1Api;
  apps: AppsV1Api;
  discovery: DiscoveryV1Api;
}

/** kubeconfig from a file (and context), in-cluster, or the default loading rules; never spliced shell text. */
export function loadKubeConfig(
  config: Pick<KubernetesConfig, "kubeconfigPath" | "context" | "inCluster">,
): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (config.inCluster) kc.loadFromCluster();
    else if (config.kubeconfigPath) kc.loadFromFile(config.kubeconfigPath);
    else kc.loadFromDefault();
  } catch (err) {
    const field = config.inCluster ? "inCluster" : "kubeconfigPath";
    throw new EbbError(
      "param_invalid",
      `balancerConfig.${field}: cannot load the kubeconfig: ${(err as Error).message}`,
      {
        cause: err,
        details: [{ field: `balancerConfig.${field}`, message: (err as Error).message }],
      },
    );
  }
  if (config.context) {
    if (!kc.getContextObject(config.context)) {
      const known = kc.getContexts().map((c) => c.name);
      throw new EbbError(
        "param_invalid",
        `balancerConfig.context: no context ${JSON.stringify(config.context)} in the kubeconfig (it has: ${known.join(", ") || "none"})`,
        { details: [{ field: "balancerConfig.context", message: "unknown context" }] },
      );
    }
    kc.setCurrentContext(config.context);
  }
  if (!kc.getCurrentCluster()) {
    throw new EbbError("param_invalid", "the kubeconfig has no current cluster: set balancerConfig.context", {
      details: [{ field: "balancerConfig.context", message: "no current cluster" }],
    });
  }
  return kc;
}

export function makeClients(kc: KubeConfig): KubeClients {
  return {
    kc,
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    discovery: kc.makeApiClient(DiscoveryV1Api),
  };
}

/** Request options for a strategic merge patch (client-node sends JSON patch unless told otherwise). */
export const strategicMerge = () => setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch);
export const mergePatch = () => setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

export function statusCode(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  return undefined;
}

/** The server's own message from a Status body, when there is one. */
function serverMessage(err: unknown): string {
  if (err instanceof ApiException) {
    const body = err.body as unknown;
    if (typeof body === "string") {
      try {
        const parsed = JSON.parse(body) as { message?: unknown };
        if (typeof parsed.message === "string") return parsed.message;
      } catch {
        return body.slice(0, 200);
      }
    }
    if (
      typeof body === "object" &&
      body !== null &&
      typeof (body as { message?: unknown }).message === "string"
    )
      return (body as { message: string }).message;
    return `HTTP ${err.code}`;
  }
  return (err as Error)?.message ?? String(err);
}

/**
 * Runs one API call with a deadline and maps its failure to an EbbError: 404 not_found, 409 conflict, 401/403
 * a configuration problem (not retryable), anything else (network, 5xx, timeout) balancer_unavailable.
 */
export async function call<T>(what: string, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new EbbError(
            "balancer_unavailable",
            `${what}: no answer from the Kubernetes API within ${timeoutMs} ms`,
          ),
        ),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([fn(), deadline]);
  } catch (err) {
    if (err instanceof EbbError) throw err;
    const code = statusCode(err);
    const message = `${what}: ${serverMessage(err)}`;
    if (code === 404) throw new EbbError("not_found", message, { cause: err });
    if (code === 409) throw new EbbError("conflict", message, { cause: err, retryable: true });
    if (code === 401 || code === 403)
      throw new EbbError("balancer_unavailable", `${message} (check the kubeconfig's credentials and RBAC)`, {
        cause: err,
        retryable: false,
      });
    if (code !== undefined && code >= 400 && code < 500)
      throw new EbbError("step_failed", message, { cause: err });
    throw new EbbError("balancer_unavailable", message, { cause: err });
  } finally {
    clearTimeout(timer);
  }
}
