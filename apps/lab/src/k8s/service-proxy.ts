import net, { type AddressInfo, type Server, type Socket } from "node:net";
import { SERVICE_NAME_LABEL } from "./endpointslice-controller.js";
import { ENDPOINTSLICES } from "./resources.js";
import type { ObjectStore, StoreEvent } from "./store.js";
import type { EndpointConditions, EndpointSlice } from "./types.js";

export interface ServiceProxyOptions {
  store: ObjectStore;
  namespace: string;
  service: string;
  host: string;
  /** 0 picks a free port. */
  port: number;
  /**
   * How long after an EndpointSlice change the proxy acts on it: kube-proxy's lag behind the API server
   * (sync period, iptables reload). Real milliseconds.
   */
  propagationDelayMs: number;
  log?: (line: string) => void;
}

export interface ProxyEndpoint {
  address: string;
  port: number;
  pod: string;
  /** The pod's uid: tells a replacement from the pod of the same name it replaces. */
  uid: string;
  conditions: EndpointConditions;
}

export interface ProxyEndpointCounters {
  /** Connections routed to this endpoint since the proxy started. */
  opened: number;
  active: number;
}

/**
 * kube-proxy for one Service, on the Service's address: a TCP proxy that sends each new connection to the
 * next ready endpoint (round robin) of the EndpointSlices as it knew them `propagationDelayMs` ago. An
 * established connection stays on its pod until one side closes it, as conntrack keeps it: FIN and RST
 * pass through. With no ready endpoint it falls back to serving-and-terminating ones (kube-proxy's
 * ProxyTerminatingEndpoints); with none at all, new connections are reset (iptables REJECT).
 */
export class ServiceProxy {
  private readonly server: Server;
  private readonly view = new Map<string, ProxyEndpoint[]>();
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly counters = new Map<string, ProxyEndpointCounters>();
  private unsubscribe: (() => void) | undefined;
  private next = 0;
  rejected = 0;

  private constructor(private readonly opts: ServiceProxyOptions) {
    this.server = net.createServer({ allowHalfOpen: true }, (client) => this.onConnection(client));
  }

  static async start(opts: ServiceProxyOptions): Promise<ServiceProxy> {
    const proxy = new ServiceProxy(opts);
    // kube-proxy starts from a full sync; only later changes lag.
    for (const s of opts.store.list(ENDPOINTSLICES, opts.namespace, (o) => proxy.mine(o as EndpointSlice))) {
      proxy.apply({ type: "ADDED", object: s });
    }
    proxy.unsubscribe = opts.store.subscribe((e) => proxy.onEvent(e));
    await new Promise<void>((resolve, reject) => {
      proxy.server.once("error", reject);
      proxy.server.listen({ host: opts.host, port: opts.port }, () => {
        proxy.server.off("error", reject);
        resolve();
      });
    });
    return proxy;
  }

  get address(): { host: string; port: number } {
    const a = this.server.address() as AddressInfo;
    return { host: a.address, port: a.port };
  }

  /** The endpoints as the proxy currently routes them (the lagging view). */
  endpoints(): ProxyEndpoint[] {
    return [...this.view.values()].flat();
  }

  /** Per pod: connections routed to it. */
  endpointCounters(): Record<string, ProxyEndpointCounters> {
    return Object.fromEntries([...this.counters].map(([k, v]) => [k, { ...v }]));
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    for (const t of this.timers) clearTimeout(t);
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private mine(slice: EndpointSlice): boolean {
    return (
      slice.metadata.namespace === this.opts.namespace &&
      slice.metadata.labels?.[SERVICE_NAME_LABEL] === this.opts.service
    );
  }

  private onEvent(e: StoreEvent): void {
    if (e.resource !== ENDPOINTSLICES || !this.mine(e.object as EndpointSlice)) return;
    const change = { type: e.type, object: e.object };
    if (this.opts.propagationDelayMs <= 0) {
      this.apply(change);
      return;
    }
    // Equal delays fire in the order they were set, so changes apply in resourceVersion order.
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.apply(change);
    }, this.opts.propagationDelayMs);
    this.timers.add(timer);
  }

  private apply(change: { type: string; object: StoreEvent["object"] }): void {
    const slice = change.object as EndpointSlice;
    const name = slice.metadata.name ?? "";
    if (change.type === "DELETED") {
      this.view.delete(name);
      return;
    }
    const port = slice.ports?.[0]?.port ?? 0;
    this.view.set(
      name,
      (slice.endpoints ?? []).map((ep) => ({
        address: ep.addresses[0] ?? "",
        port,
        pod: ep.targetRef?.name ?? ep.addresses[0] ?? "",
        uid: ep.targetRef?.uid ?? "",
        conditions: { ...ep.conditions },
      })),
    );
  }

  private choose(): ProxyEndpoint | undefined {
    const all = this.endpoints();
    let candidates = all.filter((e) => e.conditions.ready);
    if (candidates.length === 0)
      candidates = all.filter((e) => e.conditions.serving && e.conditions.terminating);
    if (candidates.length === 0) return undefined;
    const ep = candidates[this.next % candidates.length];
    this.next = (this.next + 1) % 1_000_000;
    return ep;
  }

  private onConnection(client: Socket): void {
    const ep = this.choose();
    if (!ep) {
      this.rejected++;
      client.resetAndDestroy();
      return;
    }
    const counters = this.counters.get(ep.pod) ?? { opened: 0, active: 0 };
    this.counters.set(ep.pod, counters);
    counters.opened++;
    counters.active++;
    const upstream = net.connect({ host: ep.address, port: ep.port, allowHalfOpen: true });
    this.sockets.add(client);
    this.sockets.add(upstream);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    // Each direction ends on its own (half-close), so a FIN from the pod reaches the client as a FIN.
    client.pipe(upstream);
    upstream.pipe(client);
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      counters.active--;
    };
    upstream.on("error", () => {
      // Refused or reset by the pod: the client sees a reset, as with a real DNAT'ed connection.
      if (!client.destroyed) client.resetAndDestroy();
    });
    client.on("error", () => {
      if (!upstream.destroyed) upstream.resetAndDestroy();
    });
    upstream.on("close", () => {
      this.sockets.delete(upstream);
      if (!client.destroyed && client.writableEnded && client.readableEnded) client.destroy();
      finish();
    });
    client.on("close", () => {
      this.sockets.delete(client);
      if (!upstream.destroyed) upstream.destroy();
      finish();
    });
  }
}
