/** The resource kinds the emulator serves, as discovery describes them. */
export interface ResourceType {
  /** "" for the core group. */
  group: string;
  version: string;
  kind: string;
  /** The URL segment, e.g. "pods". */
  plural: string;
  singular: string;
  namespaced: boolean;
  shortNames?: string[];
  /** Subresources served under .../{name}/{sub}. */
  subresources: ("status" | "scale")[];
  /** `kubectl get all` lists the kinds in category "all". */
  categories?: string[];
}

export const RESOURCE_TYPES: readonly ResourceType[] = [
  {
    group: "",
    version: "v1",
    kind: "Namespace",
    plural: "namespaces",
    singular: "namespace",
    namespaced: false,
    shortNames: ["ns"],
    subresources: ["status"],
  },
  {
    group: "",
    version: "v1",
    kind: "Node",
    plural: "nodes",
    singular: "node",
    namespaced: false,
    shortNames: ["no"],
    subresources: ["status"],
  },
  {
    group: "",
    version: "v1",
    kind: "Pod",
    plural: "pods",
    singular: "pod",
    namespaced: true,
    shortNames: ["po"],
    subresources: ["status"],
    categories: ["all"],
  },
  {
    group: "",
    version: "v1",
    kind: "Service",
    plural: "services",
    singular: "service",
    namespaced: true,
    shortNames: ["svc"],
    subresources: ["status"],
    categories: ["all"],
  },
  {
    group: "",
    version: "v1",
    kind: "Event",
    plural: "events",
    singular: "event",
    namespaced: true,
    shortNames: ["ev"],
    subresources: [],
  },
  {
    group: "apps",
    version: "v1",
    kind: "StatefulSet",
    plural: "statefulsets",
    singular: "statefulset",
    namespaced: true,
    shortNames: ["sts"],
    subresources: ["status"],
    categories: ["all"],
  },
  {
    group: "apps",
    version: "v1",
    kind: "Deployment",
    plural: "deployments",
    singular: "deployment",
    namespaced: true,
    shortNames: ["deploy"],
    subresources: ["status", "scale"],
    categories: ["all"],
  },
  {
    group: "apps",
    version: "v1",
    kind: "ReplicaSet",
    plural: "replicasets",
    singular: "replicaset",
    namespaced: true,
    shortNames: ["rs"],
    subresources: ["status", "scale"],
    categories: ["all"],
  },
  {
    group: "",
    version: "v1",
    kind: "ServiceAccount",
    plural: "serviceaccounts",
    singular: "serviceaccount",
    namespaced: true,
    shortNames: ["sa"],
    subresources: [],
  },
  {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    kind: "Role",
    plural: "roles",
    singular: "role",
    namespaced: true,
    subresources: [],
  },
  {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    kind: "RoleBinding",
    plural: "rolebindings",
    singular: "rolebinding",
    namespaced: true,
    subresources: [],
  },
  // Stored and listed only (no controller acts on them): `ebb lint` reads them against the workload.
  {
    group: "autoscaling",
    version: "v2",
    kind: "HorizontalPodAutoscaler",
    plural: "horizontalpodautoscalers",
    singular: "horizontalpodautoscaler",
    namespaced: true,
    shortNames: ["hpa"],
    subresources: ["status"],
    categories: ["all"],
  },
  {
    group: "policy",
    version: "v1",
    kind: "PodDisruptionBudget",
    plural: "poddisruptionbudgets",
    singular: "poddisruptionbudget",
    namespaced: true,
    shortNames: ["pdb"],
    subresources: ["status"],
  },
  {
    group: "discovery.k8s.io",
    version: "v1",
    kind: "EndpointSlice",
    plural: "endpointslices",
    singular: "endpointslice",
    namespaced: true,
    subresources: [],
  },
];

export function apiVersionOf(t: ResourceType): string {
  return t.group ? `${t.group}/${t.version}` : t.version;
}

export function resourceId(t: ResourceType): string {
  return t.group ? `${t.plural}.${t.group}` : t.plural;
}

function find(group: string, plural: string): ResourceType {
  const t = RESOURCE_TYPES.find((r) => r.group === group && r.plural === plural);
  if (!t) throw new Error(`unknown resource ${plural}.${group}`);
  return t;
}

export const PODS = find("", "pods");
export const SERVICES = find("", "services");
export const NAMESPACES = find("", "namespaces");
export const NODES = find("", "nodes");
export const EVENTS = find("", "events");
export const STATEFULSETS = find("apps", "statefulsets");
export const ENDPOINTSLICES = find("discovery.k8s.io", "endpointslices");
export const DEPLOYMENTS = find("apps", "deployments");
export const REPLICASETS = find("apps", "replicasets");
export const SERVICEACCOUNTS = find("", "serviceaccounts");
export const ROLES = find("rbac.authorization.k8s.io", "roles");
export const ROLEBINDINGS = find("rbac.authorization.k8s.io", "rolebindings");
export const HPAS = find("autoscaling", "horizontalpodautoscalers");
export const PDBS = find("policy", "poddisruptionbudgets");

export function resourceByPath(group: string, version: string, plural: string): ResourceType | undefined {
  return RESOURCE_TYPES.find((r) => r.group === group && r.version === version && r.plural === plural);
}
