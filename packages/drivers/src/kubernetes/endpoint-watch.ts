import type { CoreV1Api, DiscoveryV1Api } from "@kubernetes/client-node";
import { type KubeConfig, makeInformer, type V1EndpointSlice, type V1Pod } from "@kubernetes/client-node";

export const SERVICE_NAME_LABEL = "kubernetes.io/service-name";

/**
 * An informer over one Service's EndpointSlices: `onChange` gets the full set of slices after every add,
 * update or delete (and after each relist). The informer reconnects by itself and relists on 410 Expired.
 */
export class EndpointSliceWatch {
  private readonly informer;
  private started = false;

  constructor(
    kc: KubeConfig,
    discovery: DiscoveryV1Api,
    namespace: string,
    service: string,
    private readonly onChange: (slices: V1EndpointSlice[]) => void,
    private readonly onError: (err: unknown) => void = () => {},
  ) {
    const labelSelector = `${SERVICE_NAME_LABEL}=${service}`;
    this.informer = makeInformer<V1EndpointSlice>(
      kc,
      `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/endpointslices`,
      () => discovery.listNamespacedEndpointSlice({ namespace, labelSelector }),
      labelSelector,
    );
    const changed = () => this.onChange([...this.informer.list(namespace)]);
    this.informer.on("add", changed);
    this.informer.on("update", changed);
    this.informer.on("delete", changed);
    this.informer.on("error", (err: unknown) => {
      this.onError(err);
      // The informer stops on an error it does not handle itself (a refused connection): restart it, paced.
      if (this.started) setTimeout(() => void this.informer.start().catch(this.onError), 1_000).unref();
    });
  }

  async start(): Promise<void> {
    this.started = true;
    await this.informer.start();
  }

  async stop(): Promise<void> {
    this.started = false;
    await this.informer.stop();
  }
}

/**
 * An informer over one workload's pods (by its label selector): `onChange` gets the name of every pod added,
 * changed (a container became ready, a deletion began) or removed. What EndpointSlices do not show: a new
 * pod's containers turning ready while Ebb's gate still holds it out, a terminating pod finally gone.
 */
export class PodWatch {
  private readonly informer;
  private started = false;

  constructor(
    kc: KubeConfig,
    core: CoreV1Api,
    namespace: string,
    labelSelector: string,
    onChange: (pod: string) => void,
    private readonly onError: (err: unknown) => void = () => {},
  ) {
    this.informer = makeInformer<V1Pod>(
      kc,
      `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`,
      () => core.listNamespacedPod({ namespace, labelSelector }),
      labelSelector,
    );
    const changed = (pod: V1Pod) => onChange(pod.metadata?.name ?? "*");
    this.informer.on("add", changed);
    this.informer.on("update", changed);
    this.informer.on("delete", changed);
    this.informer.on("error", (err: unknown) => {
      this.onError(err);
      if (this.started) setTimeout(() => void this.informer.start().catch(this.onError), 1_000).unref();
    });
  }

  async start(): Promise<void> {
    this.started = true;
    await this.informer.start();
  }

  async stop(): Promise<void> {
    this.started = false;
    await this.informer.stop();
  }
}
