import http from "node:http";
import https from "node:https";

/** A GET on the API server with the service account's token; TLS with the cluster's CA when given. */
export function apiGet(
  api: { url: string; token: string | undefined; ca: string | undefined },
  urlPath: string,
  timeoutMs: number,
): Promise<unknown> {
  const url = new URL(urlPath, `${api.url}/`);
  const mod = url.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      url,
      {
        method: "GET",
        headers: {
          accept: "application/json",
          ...(api.token ? { authorization: `Bearer ${api.token}` } : {}),
        },
        timeout: timeoutMs,
        ...(url.protocol === "https:" && api.ca ? { ca: api.ca } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          if ((res.statusCode ?? 0) !== 200) {
            reject(new Error(`GET ${url.pathname}: ${res.statusCode} ${text.slice(0, 200)}`));
            return;
          }
          try {
            resolve(JSON.parse(text));
          } catch (err) {
            reject(err);
          }
        });
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`GET ${url.pathname}: timeout after ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}

interface SliceJson {
  metadata?: { name?: string; labels?: Record<string, string> };
  endpoints?:
    | {
        addresses?: string[];
        conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
        targetRef?: { kind?: string; name?: string };
      }[]
    | null;
}

/** Where the pod stands in its namespace's EndpointSlices: the slices that still route new traffic to it. */
export interface EndpointView {
  /** Slices (service/slice) listing the pod at all. */
  listed: string[];
  /** Slices where it is ready and not terminating: proxies may still send it new connections. */
  serving: string[];
}

/**
 * The pod's endpoint in every EndpointSlice of the namespace (so every Service selecting it, without
 * knowing their names): found by targetRef or address. Gone, not ready, or terminating all mean the
 * control plane has taken it out; proxies still apply that late, which the propagation window covers.
 */
export function endpointView(list: unknown, pod: string, podIP: string): EndpointView {
  const items = ((list as { items?: SliceJson[] })?.items ?? []) as SliceJson[];
  const view: EndpointView = { listed: [], serving: [] };
  for (const s of items) {
    const service = s.metadata?.labels?.["kubernetes.io/service-name"] ?? "?";
    const name = `${service}/${s.metadata?.name ?? "?"}`;
    for (const e of s.endpoints ?? []) {
      const mine =
        (e.targetRef?.kind === "Pod" && e.targetRef.name === pod) || (e.addresses ?? []).includes(podIP);
      if (!mine) continue;
      view.listed.push(name);
      const c = e.conditions ?? {};
      // ready is nil-means-true in the API; terminating nil means false.
      if (c.ready !== false && c.terminating !== true) view.serving.push(name);
    }
  }
  return view;
}
