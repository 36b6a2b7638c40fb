import { randomBytes } from "node:crypto";
import { type ResourceType, ROLEBINDINGS, ROLES } from "./resources.js";
import type { ObjectStore } from "./store.js";

/** Who a service-account token stands for; bound to one pod, so it dies with that pod (as bound tokens do). */
export interface ServiceAccountIdentity {
  namespace: string;
  serviceAccount: string;
  pod: string;
  podUid: string;
}

interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs?: string[];
  resourceNames?: string[];
}

/**
 * The token issuer (the kubelet's TokenRequest) and the authorizer for service-account tokens: namespaced
 * RBAC, Roles bound by RoleBindings to `ServiceAccount` subjects. ClusterRoles are not emulated: a pod that
 * needs cluster-wide reads has no business in the lab.
 */
export class ServiceAccountTokens {
  private readonly tokens = new Map<string, ServiceAccountIdentity>();

  issue(identity: ServiceAccountIdentity): string {
    const token = `lab-sa.${randomBytes(24).toString("base64url")}`;
    this.tokens.set(token, identity);
    return token;
  }

  revoke(podUid: string): void {
    for (const [token, id] of this.tokens) if (id.podUid === podUid) this.tokens.delete(token);
  }

  identify(token: string): ServiceAccountIdentity | undefined {
    return this.tokens.get(token);
  }
}

/** The RBAC verb of a request (a GET with watch=true is "watch", a GET without a name is "list"). */
export function verbOf(method: string, named: boolean, watch: boolean): string {
  switch (method) {
    case "GET":
      return watch ? "watch" : named ? "get" : "list";
    case "POST":
      return "create";
    case "PUT":
      return "update";
    case "PATCH":
      return "patch";
    case "DELETE":
      return "delete";
    default:
      return method.toLowerCase();
  }
}

const has = (list: string[] | undefined, value: string) => (list ?? []).some((x) => x === "*" || x === value);

/** Whether the service account may do `verb` on `type` (and `sub`) in `namespace`, by its RoleBindings. */
export function allowed(
  store: ObjectStore,
  who: ServiceAccountIdentity,
  verb: string,
  type: ResourceType,
  namespace: string | undefined,
  name: string | undefined,
  sub: string | undefined,
): boolean {
  if (namespace !== who.namespace) return false;
  const resource = sub ? `${type.plural}/${sub}` : type.plural;
  const bindings = store.list(ROLEBINDINGS, namespace, (b) =>
    ((b.subjects as { kind?: string; name?: string; namespace?: string }[] | undefined) ?? []).some(
      (s) =>
        s.kind === "ServiceAccount" &&
        s.name === who.serviceAccount &&
        (s.namespace ?? namespace) === who.namespace,
    ),
  );
  for (const b of bindings) {
    const ref = b.roleRef as { kind?: string; name?: string } | undefined;
    if (ref?.kind !== "Role" || !ref.name) continue;
    const role = store.peek(ROLES, namespace, ref.name);
    for (const rule of (role?.rules as PolicyRule[] | undefined) ?? []) {
      if (!has(rule.apiGroups, type.group) || !has(rule.resources, resource) || !has(rule.verbs, verb))
        continue;
      if (
        rule.resourceNames &&
        rule.resourceNames.length > 0 &&
        (!name || !rule.resourceNames.includes(name))
      )
        continue;
      return true;
    }
  }
  return false;
}
