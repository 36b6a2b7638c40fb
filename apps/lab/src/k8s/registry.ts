import { randomInt } from "node:crypto";
import { ApiError, badRequest, conflict, invalid, notFound } from "./errors.js";
import { applyPatch, PatchError } from "./patch.js";
import {
  apiVersionOf,
  DEPLOYMENTS,
  ENDPOINTSLICES,
  HPAS,
  NAMESPACES,
  PDBS,
  PODS,
  REPLICASETS,
  RESOURCE_TYPES,
  type ResourceType,
  SERVICES,
  STATEFULSETS,
} from "./resources.js";
import { labelSelectorMatcher, SelectorError } from "./selectors.js";
import type { ObjectStore } from "./store.js";
import {
  deepClone,
  isRecord,
  type KObject,
  type LabelSelectorSpec,
  type Pod,
  type PodTemplate,
  type Service,
  type StatefulSet,
} from "./types.js";

export interface DeleteOptions {
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
  propagationPolicy?: "Orphan" | "Background" | "Foreground";
}

export interface RegistryOptions {
  /** The ClusterIP a new Service gets; the lab gives a proxied Service its proxy's address. */
  serviceAddress?: (namespace: string, name: string) => string | undefined;
  /** A mutating admission step for new pods (the lab's sidecar injector). */
  admitPod?: (pod: Pod) => void;
}

const NAME_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789";
const NAME_RE = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

export function randomSuffix(n = 5): string {
  let s = "";
  for (let i = 0; i < n; i++) s += NAME_SUFFIX_ALPHABET[randomInt(NAME_SUFFIX_ALPHABET.length)];
  return s;
}

function setDefault<T extends Record<string, unknown>>(obj: T, key: string, value: unknown): void {
  if (obj[key] === undefined) (obj as Record<string, unknown>)[key] = value;
}

/** The defaults the real API server fills into a pod spec (those clients and our runtime read). */
export function defaultPodSpec(spec: Record<string, unknown>): void {
  setDefault(spec, "restartPolicy", "Always");
  setDefault(spec, "terminationGracePeriodSeconds", 30);
  setDefault(spec, "dnsPolicy", "ClusterFirst");
  setDefault(spec, "schedulerName", "default-scheduler");
  setDefault(spec, "securityContext", {});
  const containers = Array.isArray(spec.containers) ? spec.containers : [];
  for (const c of containers) {
    if (!isRecord(c)) continue;
    setDefault(c, "imagePullPolicy", "IfNotPresent");
    setDefault(c, "terminationMessagePath", "/dev/termination-log");
    setDefault(c, "terminationMessagePolicy", "File");
    setDefault(c, "resources", {});
    if (Array.isArray(c.ports)) for (const p of c.ports) if (isRecord(p)) setDefault(p, "protocol", "TCP");
    if (isRecord(c.readinessProbe)) {
      const p = c.readinessProbe;
      setDefault(p, "periodSeconds", 10);
      setDefault(p, "timeoutSeconds", 1);
      setDefault(p, "successThreshold", 1);
      setDefault(p, "failureThreshold", 3);
      if (isRecord(p.httpGet)) setDefault(p.httpGet, "scheme", "HTTP");
    }
  }
}

/** A label selector as the Scale subresource's status.selector carries it (`app=web,tier in (a,b)`). */
export function selectorString(sel: LabelSelectorSpec | undefined): string {
  const parts = Object.entries(sel?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of sel?.matchExpressions ?? []) {
    if (e.operator === "In") parts.push(`${e.key} in (${(e.values ?? []).join(",")})`);
    else if (e.operator === "NotIn") parts.push(`${e.key} notin (${(e.values ?? []).join(",")})`);
    else if (e.operator === "Exists") parts.push(e.key);
    else if (e.operator === "DoesNotExist") parts.push(`!${e.key}`);
  }
  return parts.join(",");
}

/**
 * The API server's semantics over the store: defaults on create, the main resource / status subresource
 * split on update and patch, preconditions, graceful deletion of pods and garbage collection of dependents.
 * The HTTP layer and the in-process controllers both go through it.
 */
export class Registry {
  constructor(
    readonly store: ObjectStore,
    private readonly opts: RegistryOptions = {},
  ) {}

  create(t: ResourceType, namespace: string | undefined, body: unknown): KObject {
    if (!isRecord(body) || !isRecord(body.metadata))
      throw badRequest("the body must be an object with metadata");
    const obj = deepClone(body) as KObject;
    this.checkKind(t, obj);
    const meta = obj.metadata;
    if (t.namespaced) {
      if (meta.namespace && namespace && meta.namespace !== namespace)
        throw badRequest(
          "the namespace of the provided object does not match the namespace sent on the request",
        );
      meta.namespace = namespace ?? meta.namespace ?? "default";
      if (!this.store.peek(NAMESPACES, undefined, meta.namespace))
        throw notFound("namespaces", "", meta.namespace);
    }
    if (!meta.name) {
      if (!meta.generateName) throw invalid(t.kind, "", "metadata.name", "name or generateName is required");
      meta.name = `${meta.generateName}${randomSuffix()}`;
    }
    if (!NAME_RE.test(meta.name))
      throw invalid(t.kind, meta.name, "metadata.name", "a lowercase RFC 1123 subdomain is required");
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    this.applyDefaults(t, obj);
    return this.store.create(t, obj);
  }

  /** PUT on the object (`sub` undefined) or its status subresource. */
  replace(
    t: ResourceType,
    namespace: string | undefined,
    name: string,
    body: unknown,
    sub?: string,
  ): KObject {
    if (!isRecord(body) || !isRecord(body.metadata))
      throw badRequest("the body must be an object with metadata");
    const input = deepClone(body) as KObject;
    this.checkKind(t, input);
    if (input.metadata.name && input.metadata.name !== name)
      throw badRequest(
        `the name of the object (${input.metadata.name}) does not match the name on the URL (${name})`,
      );
    const current = this.store.get(t, namespace, name);
    if (!current) throw notFound(t.plural, t.group, name);
    return this.write(t, current, input, sub, input.metadata.resourceVersion);
  }

  patch(
    t: ResourceType,
    namespace: string | undefined,
    name: string,
    contentType: string,
    body: unknown,
    sub?: string,
  ): KObject {
    const current = this.store.get(t, namespace, name);
    if (!current) throw notFound(t.plural, t.group, name);
    // A uid in the patch is a precondition, as on the real server: never patch a successor of the same name.
    const patchUid = isRecord(body) && isRecord(body.metadata) ? body.metadata.uid : undefined;
    if (typeof patchUid === "string" && patchUid !== current.metadata.uid) {
      throw conflict(
        t.plural,
        t.group,
        name,
        `Precondition failed: UID in precondition: ${patchUid}, UID in object meta: ${current.metadata.uid}`,
      );
    }
    let patched: unknown;
    try {
      patched = applyPatch(current, contentType, body);
    } catch (err) {
      if (err instanceof PatchError) {
        throw new ApiError(
          contentType.includes("json-patch") ? 422 : 400,
          contentType.includes("json-patch") ? "Invalid" : "BadRequest",
          err.message,
        );
      }
      throw err;
    }
    if (!isRecord(patched) || !isRecord(patched.metadata)) throw badRequest("the patch removed metadata");
    const input = patched as KObject;
    if (input.metadata.name !== name) throw badRequest("a patch cannot change metadata.name");
    // A resourceVersion in the patch is a precondition; the one carried over from the object is not.
    const patchRv =
      isRecord(body) && isRecord(body.metadata) && typeof body.metadata.resourceVersion === "string"
        ? body.metadata.resourceVersion
        : undefined;
    return this.write(t, current, input, sub, patchRv);
  }

  private write(
    t: ResourceType,
    current: KObject,
    input: KObject,
    sub: string | undefined,
    expectRv: string | undefined,
  ): KObject {
    const hasStatus = t.subresources.includes("status");
    let next: KObject;
    if (sub === "status") {
      if (!hasStatus) throw notFound(`${t.plural}/status`, t.group, current.metadata.name ?? "");
      next = deepClone(current);
      if (input.status === undefined) delete next.status;
      else next.status = input.status;
    } else if (sub === undefined) {
      next = input;
      if (hasStatus) {
        if (current.status === undefined) delete next.status;
        else next.status = current.status;
      }
      this.validateUpdate(t, current, next);
    } else {
      throw notFound(`${t.plural}/${sub}`, t.group, current.metadata.name ?? "");
    }
    return this.store.update(t, next, expectRv);
  }

  /** GET .../scale: the autoscaling/v1 Scale view of a Deployment or ReplicaSet. */
  getScale(t: ResourceType, namespace: string | undefined, name: string): KObject {
    const obj = this.store.peek(t, namespace, name);
    if (!obj || !t.subresources.includes("scale")) throw notFound(`${t.plural}/scale`, t.group, name);
    return scaleOf(obj);
  }

  /** PUT or PATCH .../scale: only spec.replicas is taken; a resourceVersion in the body is a precondition. */
  writeScale(
    t: ResourceType,
    namespace: string | undefined,
    name: string,
    body: unknown,
    contentType?: string,
  ): KObject {
    const current = this.store.get(t, namespace, name);
    if (!current || !t.subresources.includes("scale")) throw notFound(`${t.plural}/scale`, t.group, name);
    let next: unknown = body;
    if (contentType !== undefined) {
      try {
        next = applyPatch(scaleOf(current), contentType, body);
      } catch (err) {
        if (err instanceof PatchError) throw badRequest(err.message);
        throw err;
      }
    }
    if (!isRecord(next) || !isRecord(next.spec)) throw badRequest("the Scale body must have a spec");
    const replicas = next.spec.replicas;
    if (typeof replicas !== "number" || !Number.isInteger(replicas) || replicas < 0)
      throw invalid("Scale", name, "spec.replicas", "must be a non-negative integer");
    const bodyRv =
      isRecord(body) && isRecord(body.metadata) && typeof body.metadata.resourceVersion === "string"
        ? body.metadata.resourceVersion
        : undefined;
    current.spec = { ...current.spec, replicas };
    return scaleOf(this.store.update(t, current, bodyRv));
  }

  delete(
    t: ResourceType,
    namespace: string | undefined,
    name: string,
    opts: DeleteOptions = {},
  ): { object: KObject; removed: boolean } {
    const current = this.store.peek(t, namespace, name);
    if (!current) throw notFound(t.plural, t.group, name);
    const pre = opts.preconditions;
    if (pre?.uid && pre.uid !== current.metadata.uid) {
      throw conflict(
        t.plural,
        t.group,
        name,
        `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${current.metadata.uid}`,
      );
    }
    if (pre?.resourceVersion && pre.resourceVersion !== current.metadata.resourceVersion) {
      throw conflict(
        t.plural,
        t.group,
        name,
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${current.metadata.resourceVersion}`,
      );
    }
    if (t === PODS) {
      const pod = current as Pod;
      const grace = opts.gracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30;
      if (grace < 0) throw invalid("DeleteOptions", name, "gracePeriodSeconds", "must be >= 0");
      // An unscheduled pod has no kubelet to wait for; grace 0 is a force delete.
      if (grace > 0 && pod.spec.nodeName) {
        return { object: this.store.markDeleting(t, namespace, name, grace), removed: false };
      }
    }
    const object = this.store.remove(t, namespace, name);
    this.collectDependents(object, opts.propagationPolicy ?? "Background");
    return { object, removed: true };
  }

  /** Kubelet's last word on a pod: its containers are gone, the object goes (if it is still that pod). */
  finalizePod(namespace: string, name: string, uid: string): void {
    const cur = this.store.peek(PODS, namespace, name);
    if (cur && cur.metadata.uid === uid) this.store.remove(PODS, namespace, name);
  }

  private collectDependents(owner: KObject, policy: "Orphan" | "Background" | "Foreground"): void {
    const uid = owner.metadata.uid;
    for (const t of RESOURCE_TYPES) {
      if (!t.namespaced) continue;
      const dependents = this.store.list(t, owner.metadata.namespace, (o) =>
        (o.metadata.ownerReferences ?? []).some((r) => r.uid === uid),
      );
      for (const dep of dependents) {
        const ns = dep.metadata.namespace;
        const name = dep.metadata.name ?? "";
        if (policy === "Orphan") {
          this.store.mutate(t, ns, name, (o) => {
            o.metadata.ownerReferences = (o.metadata.ownerReferences ?? []).filter((r) => r.uid !== uid);
          });
        } else if (!dep.metadata.deletionTimestamp) {
          this.delete(t, ns, name, { propagationPolicy: "Background" });
        }
      }
    }
  }

  private checkKind(t: ResourceType, obj: KObject): void {
    if (obj.kind !== undefined && obj.kind !== t.kind)
      throw badRequest(`the body is a ${String(obj.kind)}, expected ${t.kind}`);
    if (obj.apiVersion !== undefined && obj.apiVersion !== apiVersionOf(t))
      throw badRequest(`apiVersion ${String(obj.apiVersion)} does not match ${apiVersionOf(t)}`);
  }

  private applyDefaults(t: ResourceType, obj: KObject): void {
    if (t === PODS) {
      const pod = obj as Pod;
      if (!isRecord(pod.spec) || !Array.isArray(pod.spec.containers) || pod.spec.containers.length === 0)
        throw invalid(
          "Pod",
          pod.metadata.name ?? "",
          "spec.containers",
          "at least one container is required",
        );
      this.opts.admitPod?.(pod);
      defaultPodSpec(pod.spec);
      pod.status = { phase: "Pending", qosClass: "BestEffort" };
    } else if (t === SERVICES) {
      const svc = obj as Service;
      svc.spec ??= {};
      setDefault(svc.spec, "type", "ClusterIP");
      const ip =
        svc.spec.clusterIP ??
        this.opts.serviceAddress?.(svc.metadata.namespace ?? "", svc.metadata.name ?? "");
      svc.spec.clusterIP = ip ?? `10.96.${randomInt(1, 255)}.${randomInt(1, 255)}`;
      (svc.spec as Record<string, unknown>).clusterIPs = [svc.spec.clusterIP];
      for (const p of svc.spec.ports ?? []) {
        p.protocol ??= "TCP";
        p.targetPort ??= p.port;
      }
      svc.status = { loadBalancer: {} };
    } else if (t === STATEFULSETS) {
      const sts = obj as StatefulSet;
      if (!isRecord(sts.spec) || !isRecord(sts.spec.template) || !isRecord(sts.spec.selector))
        throw invalid("StatefulSet", sts.metadata.name ?? "", "spec", "selector and template are required");
      setDefault(sts.spec, "replicas", 1);
      setDefault(sts.spec, "podManagementPolicy", "OrderedReady");
      setDefault(sts.spec, "updateStrategy", { type: "RollingUpdate", rollingUpdate: { partition: 0 } });
      setDefault(sts.spec, "revisionHistoryLimit", 10);
      defaultPodSpec(sts.spec.template.spec);
      this.validateStatefulSet(sts);
      sts.status = { replicas: 0, availableReplicas: 0 };
    } else if (t === DEPLOYMENTS || t === REPLICASETS) {
      const kind = t.kind;
      const spec = obj.spec;
      if (!isRecord(spec) || !isRecord(spec.template) || !isRecord(spec.selector))
        throw invalid(kind, obj.metadata.name ?? "", "spec", "selector and template are required");
      setDefault(spec, "replicas", 1);
      setDefault(spec, "minReadySeconds", 0);
      if (t === DEPLOYMENTS) {
        setDefault(spec, "strategy", {
          type: "RollingUpdate",
          rollingUpdate: { maxSurge: "25%", maxUnavailable: "25%" },
        });
        setDefault(spec, "revisionHistoryLimit", 10);
        setDefault(spec, "progressDeadlineSeconds", 600);
      }
      defaultPodSpec((spec.template as unknown as PodTemplate).spec ?? {});
      this.validateTemplateSelector(
        kind,
        obj.metadata.name ?? "",
        spec.selector,
        spec.template as unknown as PodTemplate,
      );
      obj.status = {};
    } else if (t === HPAS || t === PDBS) {
      this.validatePolicy(t, obj);
      obj.status = {};
    } else if (t === ENDPOINTSLICES) {
      setDefault(obj, "endpoints", []);
      setDefault(obj, "ports", []);
    } else if (t === NAMESPACES) {
      obj.spec = { finalizers: ["kubernetes"] };
      obj.status = { phase: "Active" };
    }
  }

  /** The checks the real API server makes on the fields `ebb lint` reads, so a bad object is refused here too. */
  private validatePolicy(t: ResourceType, obj: KObject): void {
    const name = obj.metadata.name ?? "";
    const spec = obj.spec;
    if (!isRecord(spec)) throw invalid(t.kind, name, "spec", "Required value");
    if (t === PDBS) {
      if (spec.minAvailable !== undefined && spec.maxUnavailable !== undefined)
        throw invalid(t.kind, name, "spec", "minAvailable and maxUnavailable cannot be both set");
      return;
    }
    const ref = spec.scaleTargetRef;
    if (!isRecord(ref) || typeof ref.kind !== "string" || typeof ref.name !== "string")
      throw invalid(t.kind, name, "spec.scaleTargetRef", "Required value: kind and name");
    if (typeof spec.maxReplicas !== "number" || spec.maxReplicas < 1)
      throw invalid(t.kind, name, "spec.maxReplicas", "must be greater than or equal to 1");
  }

  private validateStatefulSet(sts: StatefulSet): void {
    this.validateTemplateSelector(
      "StatefulSet",
      sts.metadata.name ?? "",
      sts.spec.selector,
      sts.spec.template,
    );
  }

  private validateTemplateSelector(
    kind: string,
    name: string,
    selector: LabelSelectorSpec,
    template: PodTemplate,
  ): void {
    let matches: boolean;
    try {
      matches = labelSelectorMatcher(selector)({ metadata: template.metadata ?? {} });
    } catch (err) {
      if (err instanceof SelectorError) throw invalid(kind, name, "spec.selector", err.message);
      throw err;
    }
    if (!matches)
      throw invalid(
        kind,
        name,
        "spec.template.metadata.labels",
        "`selector` does not match template `labels`",
      );
    if (!Array.isArray(template.spec?.containers) || template.spec.containers.length === 0)
      throw invalid(kind, name, "spec.template.spec.containers", "at least one container is required");
  }

  private validateUpdate(t: ResourceType, current: KObject, next: KObject): void {
    if (t === PODS) {
      // Pod specs are immutable but for container images (what `kubectl set image` changes).
      const strip = (spec: unknown) =>
        JSON.stringify(spec, (key, value) => (key === "image" ? undefined : (value as unknown)));
      if (strip(current.spec) !== strip(next.spec)) {
        throw invalid(
          "Pod",
          current.metadata.name ?? "",
          "spec",
          "Forbidden: pod updates may not change fields other than `spec.containers[*].image`",
        );
      }
    } else if (t === STATEFULSETS) {
      const sts = next as StatefulSet;
      const prev = current as StatefulSet;
      if (JSON.stringify(sts.spec.selector) !== JSON.stringify(prev.spec.selector))
        throw invalid("StatefulSet", current.metadata.name ?? "", "spec.selector", "field is immutable");
      defaultPodSpec(sts.spec.template.spec);
      this.validateStatefulSet(sts);
    } else if (t === HPAS || t === PDBS) {
      this.validatePolicy(t, next);
    } else if (t === DEPLOYMENTS || t === REPLICASETS) {
      const spec = next.spec as { selector: LabelSelectorSpec; template: PodTemplate; replicas?: number };
      const prev = current.spec as { selector: LabelSelectorSpec };
      const name = current.metadata.name ?? "";
      if (JSON.stringify(spec.selector) !== JSON.stringify(prev.selector))
        throw invalid(t.kind, name, "spec.selector", "field is immutable");
      if (spec.replicas !== undefined && (!Number.isInteger(spec.replicas) || spec.replicas < 0))
        throw invalid(t.kind, name, "spec.replicas", "must be a non-negative integer");
      defaultPodSpec(spec.template.spec ?? {});
      this.validateTemplateSelector(t.kind, name, spec.selector, spec.template);
    }
  }
}

function scaleOf(obj: KObject): KObject {
  const spec = (obj.spec ?? {}) as { replicas?: number; selector?: LabelSelectorSpec };
  return {
    kind: "Scale",
    apiVersion: "autoscaling/v1",
    metadata: {
      name: obj.metadata.name ?? "",
      namespace: obj.metadata.namespace ?? "",
      uid: obj.metadata.uid ?? "",
      resourceVersion: obj.metadata.resourceVersion ?? "",
      creationTimestamp: obj.metadata.creationTimestamp ?? "",
    },
    spec: { replicas: spec.replicas ?? 0 },
    status: { replicas: Number(obj.status?.replicas ?? 0), selector: selectorString(spec.selector) },
  };
}
