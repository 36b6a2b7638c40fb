import { deepClone, isRecord } from "./types.js";

export class PatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PatchError";
  }
}

export const PATCH_TYPES = {
  json: "application/json-patch+json",
  merge: "application/merge-patch+json",
  strategic: "application/strategic-merge-patch+json",
  apply: "application/apply-patch+yaml",
} as const;

/** RFC 7386: objects merge recursively, `null` removes a key, anything else (arrays too) replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isRecord(patch)) return deepClone(patch);
  const out: Record<string, unknown> = isRecord(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

/**
 * The merge keys of the built-in types the emulator serves (the `patchMergeKey` tags of k8s.io/api). A list
 * field not named here is replaced as a whole, as strategic merge does for lists without a merge key.
 * `ports` depends on the type: container ports merge by containerPort, Service and EndpointSlice ports by port.
 */
const MERGE_KEYS: Record<string, string> = {
  conditions: "type",
  containers: "name",
  initContainers: "name",
  ephemeralContainers: "name",
  env: "name",
  volumes: "name",
  volumeMounts: "mountPath",
  containerStatuses: "name",
  initContainerStatuses: "name",
  readinessGates: "conditionType",
  ownerReferences: "uid",
  imagePullSecrets: "name",
  podIPs: "ip",
  hostIPs: "ip",
};

/** Lists of scalars that strategic merge treats as sets (`patchStrategy:"merge"` on a []string). */
const MERGED_SCALAR_LISTS = new Set(["finalizers"]);

function mergeKeyFor(field: string, items: unknown[]): string | undefined {
  if (field === "ports") {
    const sample = items.find(isRecord);
    return sample && "containerPort" in sample ? "containerPort" : "port";
  }
  return MERGE_KEYS[field];
}

function stripDirectives(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripDirectives);
  if (!isRecord(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (!k.startsWith("$")) out[k] = stripDirectives(v);
  return out;
}

function strategicList(field: string, target: unknown, patch: unknown[]): unknown[] {
  const current = Array.isArray(target) ? target : [];
  const key = mergeKeyFor(field, [...patch, ...current]);
  if (key === undefined) {
    if (MERGED_SCALAR_LISTS.has(field)) {
      const out = [...current];
      for (const v of patch) if (!out.includes(v)) out.push(v);
      return out;
    }
    return patch.map(stripDirectives);
  }
  if (patch.some((p) => isRecord(p) && p.$patch === "replace")) {
    return patch.filter((p) => !(isRecord(p) && p.$patch === "replace")).map(stripDirectives);
  }
  const out = current.map((item) => deepClone(item));
  for (const item of patch) {
    if (!isRecord(item)) throw new PatchError(`${field}: expected objects merged by ${key}`);
    const id = item[key];
    const index = out.findIndex((o) => isRecord(o) && o[key] === id);
    if (item.$patch === "delete") {
      if (index >= 0) out.splice(index, 1);
      continue;
    }
    if (index >= 0) out[index] = strategicMerge(out[index], item);
    else out.push(stripDirectives(item));
  }
  return out;
}

/**
 * Strategic merge patch for the built-in kinds: like a merge patch, but lists with a merge key merge item
 * by item (a patch of one condition leaves the others), and `$patch: replace|delete` and
 * `$deleteFromPrimitiveList/<field>` are honoured. `$setElementOrder` and `$retainKeys` are accepted and
 * ignored: only `kubectl apply` sends them, and ordering is all they change.
 */
export function strategicMerge(target: unknown, patch: unknown): unknown {
  if (!isRecord(patch)) return deepClone(patch);
  if (patch.$patch === "replace") return stripDirectives(patch);
  if (patch.$patch === "delete") return undefined;
  const out: Record<string, unknown> = isRecord(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith("$deleteFromPrimitiveList/")) {
      const field = key.slice("$deleteFromPrimitiveList/".length);
      const drop = Array.isArray(value) ? value : [];
      const cur = out[field];
      if (Array.isArray(cur)) out[field] = cur.filter((v) => !drop.includes(v));
      continue;
    }
    if (key.startsWith("$")) continue;
    if (value === null) delete out[key];
    else if (Array.isArray(value)) out[key] = strategicList(key, out[key], value);
    else if (isRecord(value)) {
      const merged = strategicMerge(out[key], value);
      if (merged === undefined) delete out[key];
      else out[key] = merged;
    } else out[key] = value;
  }
  return out;
}

function decodePointer(pointer: string): string[] {
  if (pointer === "") return [];
  if (!pointer.startsWith("/")) throw new PatchError(`invalid JSON pointer ${JSON.stringify(pointer)}`);
  return pointer
    .slice(1)
    .split("/")
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
}

function parentOf(doc: unknown, path: string[], op: string): { parent: unknown; last: string } {
  let cur = doc;
  for (const seg of path.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[Number(seg)];
    else if (isRecord(cur)) cur = cur[seg];
    else cur = undefined;
    if (cur === undefined) throw new PatchError(`${op}: path /${path.join("/")} does not exist`);
  }
  return { parent: cur, last: path[path.length - 1] ?? "" };
}

function getAt(doc: unknown, path: string[]): unknown {
  let cur = doc;
  for (const seg of path) {
    if (Array.isArray(cur)) cur = cur[Number(seg)];
    else if (isRecord(cur)) cur = cur[seg];
    else return undefined;
  }
  return cur;
}

function arrayIndex(arr: unknown[], seg: string, allowEnd: boolean, op: string): number {
  if (allowEnd && seg === "-") return arr.length;
  const i = Number(seg);
  if (!/^\d+$/.test(seg) || i > arr.length || (!allowEnd && i === arr.length))
    throw new PatchError(`${op}: array index ${seg} out of range`);
  return i;
}

function addAt(doc: unknown, path: string[], value: unknown, op: string): unknown {
  if (path.length === 0) return value;
  const { parent, last } = parentOf(doc, path, op);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, last, true, op), 0, value);
  else if (isRecord(parent)) parent[last] = value;
  else throw new PatchError(`${op}: parent of /${path.join("/")} is not a container`);
  return doc;
}

function removeAt(doc: unknown, path: string[], op: string): unknown {
  const { parent, last } = parentOf(doc, path, op);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, last, false, op), 1);
  else if (isRecord(parent) && last in parent) delete parent[last];
  else throw new PatchError(`${op}: path /${path.join("/")} does not exist`);
  return doc;
}

/** RFC 6902 JSON Patch. */
export function jsonPatch(target: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw new PatchError("a JSON patch must be an array of operations");
  let doc = deepClone(target);
  ops.forEach((raw, i) => {
    if (!isRecord(raw) || typeof raw.op !== "string" || typeof raw.path !== "string")
      throw new PatchError(`operation ${i}: needs "op" and "path"`);
    const op = `operation ${i} (${raw.op})`;
    const path = decodePointer(raw.path);
    switch (raw.op) {
      case "add":
        doc = addAt(doc, path, deepClone(raw.value), op);
        break;
      case "remove":
        doc = removeAt(doc, path, op);
        break;
      case "replace":
        if (getAt(doc, path) === undefined) throw new PatchError(`${op}: path ${raw.path} does not exist`);
        doc = path.length === 0 ? deepClone(raw.value) : addAt(removeAt(doc, path, op), path, raw.value, op);
        break;
      case "move":
      case "copy": {
        if (typeof raw.from !== "string") throw new PatchError(`${op}: needs "from"`);
        const from = decodePointer(raw.from);
        const value = deepClone(getAt(doc, from));
        if (value === undefined) throw new PatchError(`${op}: from ${raw.from} does not exist`);
        if (raw.op === "move") doc = removeAt(doc, from, op);
        doc = addAt(doc, path, value, op);
        break;
      }
      case "test":
        if (JSON.stringify(getAt(doc, path)) !== JSON.stringify(raw.value))
          throw new PatchError(`${op}: value at ${raw.path} differs`);
        break;
      default:
        throw new PatchError(`${op}: unknown op`);
    }
  });
  return doc;
}

/** Applies a PATCH body of the given Content-Type. */
export function applyPatch(target: unknown, contentType: string, body: unknown): unknown {
  const type = contentType.split(";")[0]!.trim().toLowerCase();
  switch (type) {
    case PATCH_TYPES.json:
      return jsonPatch(target, body);
    case PATCH_TYPES.merge:
      return mergePatch(target, body);
    case PATCH_TYPES.strategic:
      return strategicMerge(target, body);
    default:
      throw new PatchError(
        `unsupported patch type ${JSON.stringify(type)}: use ${PATCH_TYPES.json}, ${PATCH_TYPES.merge} or ${PATCH_TYPES.strategic}`,
      );
  }
}
