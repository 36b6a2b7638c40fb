import type { CreateRolloutBody } from "@ebb/contracts";
import type { Strategy } from "@ebb/core";
import type { Principal } from "../auth/principal.js";

/** What the use cases take: a create/preview body, resolved to a strategy, with who asks and the key. */
export interface CreateRolloutInput {
  fleet: string;
  version: string;
  /** Default: the fleet's balancer's (k8s-pod-drain for kubernetes, l4-drain otherwise). */
  runbook?: string | undefined;
  strategy: Strategy;
  params: Record<string, string>;
  /** Run despite preflight errors; the findings are still returned. */
  force?: boolean;
  idempotencyKey?: string;
  /** Who asks: display name and principal id (the approver must be someone else). */
  requestedBy?: { name: string; id: string };
  /** Overrides the runbook's `onFailure`. */
  onFailure?: "halt" | "rollback";
}

export interface RolloutLimits {
  /** More targets than this need a second person's approval; protected fleets always do. */
  approvalTargetThreshold: number;
  maxTargetsPerRollout: number;
}

/** A principal as the rollout rows name it: `kind:id`, so a token and a user never share an id. */
export function principalId(principal: Principal): string {
  return `${principal.kind}:${principal.id}`;
}

export function toCreateRolloutInput(
  body: CreateRolloutBody,
  idempotencyKey: string | undefined,
  principal: Principal | undefined,
): CreateRolloutInput {
  return {
    fleet: body.fleet,
    version: body.version,
    runbook: body.runbook,
    strategy: {
      maxUnavailable: body.maxUnavailable ?? 1,
      ...(body.batchSize === undefined ? {} : { batchSize: body.batchSize }),
      ...(body.minHealthy === undefined ? {} : { minHealthy: body.minHealthy }),
      ...(body.maxSurge === undefined ? {} : { maxSurge: body.maxSurge }),
    },
    params: body.params ?? {},
    force: body.force === true,
    ...(body.onFailure === undefined ? {} : { onFailure: body.onFailure }),
    ...(idempotencyKey ? { idempotencyKey } : {}),
    ...(principal ? { requestedBy: { name: principal.name, id: principalId(principal) } } : {}),
  };
}
