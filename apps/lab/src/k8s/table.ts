import {
  DEPLOYMENTS,
  ENDPOINTSLICES,
  NAMESPACES,
  NODES,
  PODS,
  REPLICASETS,
  type ResourceType,
  SERVICES,
  STATEFULSETS,
} from "./resources.js";
import type { EndpointSlice, KObject, Pod, Service, StatefulSet } from "./types.js";

/**
 * Server-side printing: `kubectl get` (without -o) asks for a meta.k8s.io/v1 Table and prints its columns.
 * The columns follow the real server's for the kinds the emulator serves.
 */

interface Column {
  name: string;
  type: "string" | "integer";
  format?: string;
  priority?: number;
  cell: (o: KObject) => string | number;
}

export function humanAge(iso: string | undefined, now = Date.now()): string {
  if (!iso) return "<unknown>";
  const s = Math.max(0, Math.floor((now - Date.parse(iso)) / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

const nameColumn: Column = {
  name: "Name",
  type: "string",
  format: "name",
  cell: (o) => o.metadata.name ?? "",
};
const ageColumn: Column = {
  name: "Age",
  type: "string",
  cell: (o) => humanAge(o.metadata.creationTimestamp),
};

function podStatus(pod: Pod): string {
  if (pod.metadata.deletionTimestamp) return "Terminating";
  return pod.status?.phase ?? "Unknown";
}

function podColumns(): Column[] {
  const statuses = (o: KObject) => ((o as Pod).status?.containerStatuses ?? []) as Record<string, unknown>[];
  return [
    nameColumn,
    {
      name: "Ready",
      type: "string",
      cell: (o) =>
        `${statuses(o).filter((c) => c.ready === true).length}/${(o as Pod).spec.containers.length}`,
    },
    { name: "Status", type: "string", cell: (o) => podStatus(o as Pod) },
    {
      name: "Restarts",
      type: "string",
      cell: (o) => String(statuses(o).reduce((n, c) => n + (Number(c.restartCount) || 0), 0)),
    },
    ageColumn,
    { name: "IP", type: "string", priority: 1, cell: (o) => (o as Pod).status?.podIP ?? "<none>" },
    { name: "Node", type: "string", priority: 1, cell: (o) => (o as Pod).spec.nodeName ?? "<none>" },
    {
      name: "Readiness Gates",
      type: "string",
      priority: 1,
      cell: (o) => {
        const pod = o as Pod;
        const gates = pod.spec.readinessGates ?? [];
        if (gates.length === 0) return "<none>";
        const ok = gates.filter(
          (g) => pod.status?.conditions?.find((c) => c.type === g.conditionType)?.status === "True",
        ).length;
        return `${ok}/${gates.length}`;
      },
    },
  ];
}

function columnsFor(t: ResourceType): Column[] {
  switch (t) {
    case PODS:
      return podColumns();
    case SERVICES:
      return [
        nameColumn,
        { name: "Type", type: "string", cell: (o) => (o as Service).spec.type ?? "ClusterIP" },
        { name: "Cluster-IP", type: "string", cell: (o) => (o as Service).spec.clusterIP ?? "<none>" },
        { name: "External-IP", type: "string", cell: () => "<none>" },
        {
          name: "Port(s)",
          type: "string",
          cell: (o) =>
            ((o as Service).spec.ports ?? []).map((p) => `${p.port}/${p.protocol ?? "TCP"}`).join(","),
        },
        ageColumn,
      ];
    case STATEFULSETS:
      return [
        nameColumn,
        {
          name: "Ready",
          type: "string",
          cell: (o) => {
            const s = o as StatefulSet;
            return `${Number(s.status?.readyReplicas ?? 0)}/${s.spec.replicas ?? 1}`;
          },
        },
        ageColumn,
      ];
    case DEPLOYMENTS:
      return [
        nameColumn,
        {
          name: "Ready",
          type: "string",
          cell: (o) => `${Number(o.status?.readyReplicas ?? 0)}/${Number(o.spec?.replicas ?? 1)}`,
        },
        { name: "Up-to-date", type: "integer", cell: (o) => Number(o.status?.updatedReplicas ?? 0) },
        { name: "Available", type: "integer", cell: (o) => Number(o.status?.availableReplicas ?? 0) },
        ageColumn,
      ];
    case REPLICASETS:
      return [
        nameColumn,
        { name: "Desired", type: "integer", cell: (o) => Number(o.spec?.replicas ?? 0) },
        { name: "Current", type: "integer", cell: (o) => Number(o.status?.replicas ?? 0) },
        { name: "Ready", type: "integer", cell: (o) => Number(o.status?.readyReplicas ?? 0) },
        ageColumn,
      ];
    case ENDPOINTSLICES:
      return [
        nameColumn,
        { name: "AddressType", type: "string", cell: (o) => (o as EndpointSlice).addressType },
        {
          name: "Ports",
          type: "string",
          cell: (o) => ((o as EndpointSlice).ports ?? []).map((p) => String(p.port)).join(",") || "<unset>",
        },
        {
          name: "Endpoints",
          type: "string",
          cell: (o) =>
            ((o as EndpointSlice).endpoints ?? []).flatMap((e) => e.addresses).join(",") || "<unset>",
        },
        ageColumn,
      ];
    case NAMESPACES:
      return [
        nameColumn,
        { name: "Status", type: "string", cell: (o) => String(o.status?.phase ?? "Active") },
        ageColumn,
      ];
    case NODES:
      return [nameColumn, { name: "Status", type: "string", cell: () => "Ready" }, ageColumn];
    default:
      return [nameColumn, ageColumn];
  }
}

/** Whether an Accept header asks for a Table (kubectl's human-readable get). */
export function wantsTable(accept: string | undefined): boolean {
  return accept !== undefined && /as=Table/.test(accept);
}

export function toTable(
  t: ResourceType,
  objects: readonly KObject[],
  resourceVersion: string,
  includeObject: string | null,
): Record<string, unknown> {
  const columns = columnsFor(t);
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata: { resourceVersion },
    columnDefinitions: columns.map((c) => ({
      name: c.name,
      type: c.type,
      format: c.format ?? "",
      description: c.name,
      priority: c.priority ?? 0,
    })),
    rows: objects.map((o) => ({
      cells: columns.map((c) => c.cell(o)),
      object:
        includeObject === "Object"
          ? o
          : includeObject === "None"
            ? null
            : { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: o.metadata },
    })),
  };
}
