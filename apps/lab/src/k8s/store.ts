import { randomUUID } from "node:crypto";
import { alreadyExists, conflict, notFound } from "./errors.js";
import { apiVersionOf, PODS, type ResourceType, resourceId } from "./resources.js";
import { deepClone, type KObject, nowIso, objectKey } from "./types.js";

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED";

/** One committed change. `object` and `prev` are frozen snapshots: listeners must clone to modify. */
export interface StoreEvent {
  type: WatchEventType;
  rv: number;
  resource: ResourceType;
  object: KObject;
  /** The object before a MODIFIED or DELETED. */
  prev?: KObject;
}

export type StoreListener = (event: StoreEvent) => void;

export interface StoreOptions {
  /** How many events a watch can resume from; older resourceVersions get 410 Expired. */
  historyLimit?: number;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

function sameContent(a: KObject, b: KObject): boolean {
  const strip = (o: KObject) => ({ ...o, metadata: { ...o.metadata, resourceVersion: undefined } });
  return JSON.stringify(strip(a)) === JSON.stringify(strip(b));
}

/** Real resourceVersions are opaque etcd revisions; starting above 1 keeps "0" (any version) distinct. */
const FIRST_RV = 1000;

/**
 * The emulator's etcd: every object of every kind, one global resourceVersion counter that every write
 * increments, and a bounded history of events so a watch can resume from a resourceVersion.
 */
export class ObjectStore {
  private rv = FIRST_RV;
  private readonly objects = new Map<string, Map<string, KObject>>();
  private readonly history: StoreEvent[] = [];
  private readonly listeners = new Set<StoreListener>();
  private readonly historyLimit: number;
  private readonly pending: StoreEvent[] = [];
  private dispatching = false;

  constructor(opts: StoreOptions = {}) {
    this.historyLimit = opts.historyLimit ?? 10_000;
  }

  get resourceVersion(): string {
    return String(this.rv);
  }

  /** The oldest resourceVersion a watch can still start from (events after it are all kept). */
  get oldestResumable(): number {
    const first = this.history[0];
    return first ? first.rv - 1 : this.rv;
  }

  private bucket(t: ResourceType): Map<string, KObject> {
    const id = resourceId(t);
    let b = this.objects.get(id);
    if (!b) {
      b = new Map();
      this.objects.set(id, b);
    }
    return b;
  }

  /** A frozen snapshot; clone it before changing it. */
  peek(t: ResourceType, namespace: string | undefined, name: string): KObject | undefined {
    return this.bucket(t).get(objectKey(t.namespaced ? namespace : undefined, name));
  }

  get(t: ResourceType, namespace: string | undefined, name: string): KObject | undefined {
    const o = this.peek(t, namespace, name);
    return o ? deepClone(o) : undefined;
  }

  /** Frozen snapshots, sorted by namespace and name. */
  list(t: ResourceType, namespace?: string, match: (o: KObject) => boolean = () => true): KObject[] {
    const out: KObject[] = [];
    for (const o of this.bucket(t).values()) {
      if (t.namespaced && namespace && o.metadata.namespace !== namespace) continue;
      if (match(o)) out.push(o);
    }
    return out.sort((a, b) =>
      objectKey(a.metadata.namespace, a.metadata.name ?? "").localeCompare(
        objectKey(b.metadata.namespace, b.metadata.name ?? ""),
      ),
    );
  }

  create(t: ResourceType, input: KObject): KObject {
    const obj = deepClone(input);
    const name = obj.metadata.name;
    if (!name) throw new Error("create: metadata.name must be set by the caller");
    if (!t.namespaced) delete obj.metadata.namespace;
    const key = objectKey(obj.metadata.namespace, name);
    const bucket = this.bucket(t);
    if (bucket.has(key)) throw alreadyExists(t.plural, t.group, name);
    obj.apiVersion = apiVersionOf(t);
    obj.kind = t.kind;
    obj.metadata.uid = randomUUID();
    obj.metadata.creationTimestamp = nowIso();
    if (t !== PODS && obj.spec !== undefined) obj.metadata.generation = 1;
    return this.commit(t, "ADDED", key, obj, undefined);
  }

  /**
   * Replaces an object. With `expectResourceVersion`, a stale writer gets 409 Conflict (optimistic
   * concurrency, as kubectl replace and controllers rely on). An update that changes nothing is not a
   * write: no new resourceVersion, no event, as on the real server.
   */
  update(t: ResourceType, input: KObject, expectResourceVersion?: string): KObject {
    const name = input.metadata.name ?? "";
    const key = objectKey(t.namespaced ? input.metadata.namespace : undefined, name);
    const bucket = this.bucket(t);
    const prev = bucket.get(key);
    if (!prev) throw notFound(t.plural, t.group, name);
    if (expectResourceVersion && expectResourceVersion !== prev.metadata.resourceVersion) {
      throw conflict(
        t.plural,
        t.group,
        name,
        "the object has been modified; please apply your changes to the latest version and try again",
      );
    }
    const obj = deepClone(input);
    obj.apiVersion = apiVersionOf(t);
    obj.kind = t.kind;
    // Identity and server-owned fields cannot be changed by a writer.
    obj.metadata.uid = prev.metadata.uid;
    obj.metadata.creationTimestamp = prev.metadata.creationTimestamp;
    // Only markDeleting() starts or shortens a graceful deletion.
    delete obj.metadata.deletionTimestamp;
    delete obj.metadata.deletionGracePeriodSeconds;
    if (prev.metadata.deletionTimestamp) {
      obj.metadata.deletionTimestamp = prev.metadata.deletionTimestamp;
      obj.metadata.deletionGracePeriodSeconds = prev.metadata.deletionGracePeriodSeconds ?? 0;
    }
    if (prev.metadata.generation !== undefined) {
      const specChanged = JSON.stringify(prev.spec) !== JSON.stringify(obj.spec);
      obj.metadata.generation = prev.metadata.generation + (specChanged ? 1 : 0);
    }
    obj.metadata.resourceVersion = prev.metadata.resourceVersion;
    if (sameContent(prev, obj)) return deepClone(prev);
    return this.commit(t, "MODIFIED", key, obj, prev);
  }

  /** Clones the object, lets `change` edit it, and writes it if anything changed. */
  mutate(
    t: ResourceType,
    namespace: string | undefined,
    name: string,
    change: (obj: KObject) => void,
  ): KObject | undefined {
    const cur = this.get(t, namespace, name);
    if (!cur) return undefined;
    change(cur);
    return this.update(t, cur);
  }

  /**
   * Starts a graceful deletion (deletionTimestamp = now + grace) or shortens one already running; a longer
   * grace period than the current one is ignored, as on the real server.
   */
  markDeleting(t: ResourceType, namespace: string | undefined, name: string, graceSeconds: number): KObject {
    const key = objectKey(t.namespaced ? namespace : undefined, name);
    const prev = this.bucket(t).get(key);
    if (!prev) throw notFound(t.plural, t.group, name);
    const current = prev.metadata.deletionGracePeriodSeconds;
    if (prev.metadata.deletionTimestamp && current !== undefined && current <= graceSeconds) {
      return deepClone(prev);
    }
    const obj = deepClone(prev);
    obj.metadata.deletionTimestamp = new Date(Date.now() + graceSeconds * 1000).toISOString();
    obj.metadata.deletionGracePeriodSeconds = graceSeconds;
    if (obj.metadata.generation !== undefined) obj.metadata.generation++;
    return this.commit(t, "MODIFIED", key, obj, prev);
  }

  remove(t: ResourceType, namespace: string | undefined, name: string): KObject {
    const key = objectKey(t.namespaced ? namespace : undefined, name);
    const bucket = this.bucket(t);
    const prev = bucket.get(key);
    if (!prev) throw notFound(t.plural, t.group, name);
    const obj = deepClone(prev);
    return this.commit(t, "DELETED", key, obj, prev);
  }

  private commit(
    t: ResourceType,
    type: WatchEventType,
    key: string,
    obj: KObject,
    prev: KObject | undefined,
  ): KObject {
    this.rv++;
    obj.metadata.resourceVersion = String(this.rv);
    const snapshot = deepFreeze(obj);
    const bucket = this.bucket(t);
    if (type === "DELETED") bucket.delete(key);
    else bucket.set(key, snapshot);
    const event: StoreEvent = { type, rv: this.rv, resource: t, object: snapshot, ...(prev ? { prev } : {}) };
    this.history.push(event);
    if (this.history.length > this.historyLimit)
      this.history.splice(0, this.history.length - this.historyLimit);
    this.dispatch(event);
    return deepClone(snapshot);
  }

  /**
   * Listeners often write in reaction to an event (a controller updating a status). Such a write is queued
   * until every listener has seen the current event, so all of them, watches included, see events in
   * resourceVersion order.
   */
  private dispatch(event: StoreEvent): void {
    this.pending.push(event);
    if (this.dispatching) return;
    this.dispatching = true;
    try {
      for (let e = this.pending.shift(); e !== undefined; e = this.pending.shift()) {
        for (const l of [...this.listeners]) {
          try {
            l(e);
          } catch (err) {
            // A listener's bug must not undo a committed write or starve the other listeners.
            console.error(`k8s store listener failed: ${(err as Error).stack ?? String(err)}`);
          }
        }
      }
    } finally {
      this.dispatching = false;
    }
  }

  /** Every event after `rv`, or null when some of them were dropped from the history (410 Expired). */
  eventsSince(rv: number): StoreEvent[] | null {
    if (rv < this.oldestResumable) return null;
    const i = this.history.findIndex((e) => e.rv > rv);
    return i < 0 ? [] : this.history.slice(i);
  }

  subscribe(listener: StoreListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Forgets history up to the current version: the next resume from an older version gets 410. */
  compact(): void {
    this.history.length = 0;
  }
}
