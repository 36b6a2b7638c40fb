import { apiVersionOf, RESOURCE_TYPES, type ResourceType } from "./resources.js";

/** The Kubernetes version the emulator claims: kubectl warns when it is more than one minor away. */
export const EMULATED_VERSION = { major: "1", minor: "32", gitVersion: "v1.32.0-ebb-lab" };

const VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"];

export function versionInfo(): Record<string, string> {
  return {
    ...EMULATED_VERSION,
    gitCommit: "0000000000000000000000000000000000000000",
    gitTreeState: "clean",
    buildDate: "2025-01-01T00:00:00Z",
    goVersion: "go1.23.0",
    compiler: "gc",
    platform: "linux/amd64",
  };
}

export function coreVersions(serverAddress: string): Record<string, unknown> {
  return {
    kind: "APIVersions",
    versions: ["v1"],
    serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress }],
  };
}

function groups(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const t of RESOURCE_TYPES) {
    if (!t.group) continue;
    const versions = out.get(t.group) ?? [];
    if (!versions.includes(t.version)) versions.push(t.version);
    out.set(t.group, versions);
  }
  return out;
}

function group(name: string, versions: string[]): Record<string, unknown> {
  const vs = versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v }));
  return { name, versions: vs, preferredVersion: vs[0] };
}

export function groupList(): Record<string, unknown> {
  return {
    kind: "APIGroupList",
    apiVersion: "v1",
    groups: [...groups()].map(([name, versions]) => group(name, versions)),
  };
}

export function apiGroup(name: string): Record<string, unknown> | undefined {
  const versions = groups().get(name);
  return versions ? { kind: "APIGroup", apiVersion: "v1", ...group(name, versions) } : undefined;
}

function resourceEntries(t: ResourceType): Record<string, unknown>[] {
  const main: Record<string, unknown> = {
    name: t.plural,
    singularName: t.singular,
    namespaced: t.namespaced,
    kind: t.kind,
    verbs: VERBS,
    ...(t.shortNames ? { shortNames: t.shortNames } : {}),
    ...(t.categories ? { categories: t.categories } : {}),
  };
  // The scale subresource is another kind (autoscaling/v1 Scale): kubectl scale resolves it from here.
  const subs = t.subresources.map((sub) => ({
    name: `${t.plural}/${sub}`,
    singularName: "",
    namespaced: t.namespaced,
    ...(sub === "scale" ? { group: "autoscaling", version: "v1", kind: "Scale" } : { kind: t.kind }),
    verbs: ["get", "patch", "update"],
  }));
  return [main, ...subs];
}

/** APIResourceList for one group/version, or undefined when the emulator does not serve it. */
export function resourceList(groupName: string, version: string): Record<string, unknown> | undefined {
  const types = RESOURCE_TYPES.filter((t) => t.group === groupName && t.version === version);
  if (types.length === 0) return undefined;
  return {
    kind: "APIResourceList",
    apiVersion: "v1",
    groupVersion: apiVersionOf(types[0]!),
    resources: types.flatMap(resourceEntries),
  };
}

function gvPath(t: ResourceType): string {
  return t.group ? `apis/${t.group}/${t.version}` : `api/${t.version}`;
}

/**
 * /openapi/v3: the index of group/version documents. kubectl reads it to decide whether the server validates
 * fields itself (`fieldValidation` on PATCH); without it, `kubectl create -f` refuses to run.
 */
export function openapiRoot(): Record<string, unknown> {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const t of RESOURCE_TYPES)
    paths[gvPath(t)] = { serverRelativeURL: `/openapi/v3/${gvPath(t)}?hash=ebb-lab` };
  return { paths };
}

/**
 * A group/version's OpenAPI v3 document, reduced to what clients probe: the object paths with their
 * group-version-kind and the `fieldValidation` parameter. No schemas: the server validates, not kubectl.
 */
export function openapiGroupVersion(gv: string): Record<string, unknown> | undefined {
  const types = RESOURCE_TYPES.filter((t) => gvPath(t) === gv);
  if (types.length === 0) return undefined;
  const paths: Record<string, unknown> = {};
  for (const t of types) {
    const prefix = `/${gvPath(t)}${t.namespaced ? "/namespaces/{namespace}" : ""}/${t.plural}`;
    const gvk = { group: t.group, version: t.version, kind: t.kind };
    const op = (action: string) => ({
      "x-kubernetes-group-version-kind": gvk,
      "x-kubernetes-action": action,
      parameters: [{ name: "fieldValidation", in: "query", schema: { type: "string", uniqueItems: true } }],
      responses: { "200": { description: "OK" } },
    });
    paths[prefix] = { post: op("post") };
    paths[`${prefix}/{name}`] = { put: op("put"), patch: op("patch") };
  }
  return {
    openapi: "3.0.0",
    info: { title: "Kubernetes (Ebb lab emulator)", version: EMULATED_VERSION.gitVersion },
    paths,
    components: { schemas: {} },
  };
}
