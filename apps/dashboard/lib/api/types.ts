import type {
  AuditEventView,
  AuditListQueryInput,
  AuditPage,
  AuditVerifyResult,
  AuthScope,
  RolloutDetail as ContractRolloutDetail,
  CreatedRolloutView,
  CreateRolloutInput,
  FindingView,
  FleetHold,
  FleetLive,
  FleetView,
  LiveMember,
  LiveTarget,
  LoginResponse,
  MeResponse,
  Readiness,
  RollbackCreatedView,
  RolloutNoticeView,
  RolloutPage,
  RolloutPreview,
  RolloutStatus,
  RolloutSummary,
  RunbookIssueView,
  RunbookSummary,
  RunbookValidation,
  RunbookVersionView,
  StepRunView,
  TargetRunStatus,
  WebhookDeliveryView,
  WebhookView,
} from "@ebb/contracts";

/** The shapes the dashboard reads: all from @ebb/contracts, under the names the views use. */

export type {
  AuditEventView,
  AuditListQueryInput,
  AuditPage,
  AuditVerifyResult,
  AuthScope,
  CreateRolloutInput,
  FleetHold,
  FleetView,
  LiveMember,
  LoginResponse,
  MeResponse,
  Readiness,
  RolloutPreview,
  RolloutStatus,
  RolloutSummary,
  RunbookSummary,
  RunbookValidation,
  RunbookVersionView,
  TargetRunStatus,
  WebhookDeliveryView,
  WebhookView,
};
export type Principal = MeResponse["principal"];
export type BalancerState = LiveTarget["state"];
/** One target in a traffic sample, as the balancer sees it right now. */
export type TargetTraffic = LiveTarget;
/** `traffic` event of `GET /fleets/:name/live` and of a rollout's event stream, about once a second. */
export type TrafficSample = FleetLive;
export type Finding = FindingView;
export type CreatedRollout = CreatedRolloutView;
export type RollbackCreated = RollbackCreatedView;
export type StepView = StepRunView;
export type RolloutTarget = ContractRolloutDetail["targets"][number];
/** `GET /rollouts/:id`. */
export type RolloutDetail = ContractRolloutDetail;
export type RolloutNotice = RolloutNoticeView;
export type RunbookIssue = RunbookIssueView;
export type Page<T> = { items: T[]; nextCursor: string | null };
export type { RolloutPage };

/** `GET /audit` query: the contract's input type, with the coerced `limit` narrowed to what we send. */
export type AuditQuery = Omit<AuditListQueryInput, "limit"> & { limit?: number };
