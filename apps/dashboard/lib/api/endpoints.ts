import { apiRequest, setCsrfToken } from "./client";
import type {
  AuditPage,
  AuditQuery,
  AuditVerifyResult,
  CreatedRollout,
  CreateRolloutInput,
  FleetView,
  LoginResponse,
  MeResponse,
  Page,
  Readiness,
  RollbackCreated,
  RolloutDetail,
  RolloutPreview,
  RolloutSummary,
  RunbookSummary,
  RunbookValidation,
  RunbookVersionView,
  WebhookDeliveryView,
  WebhookView,
} from "./types";

/** Every API call the dashboard makes, typed. Paths are relative to /api/v1. */

export async function login(username: string, password: string): Promise<LoginResponse> {
  const answer = await apiRequest<LoginResponse>("POST", "/auth/login", {
    body: { username, password },
    redirectOn401: false,
  });
  setCsrfToken(answer.csrfToken);
  return answer;
}

export async function logout(): Promise<void> {
  try {
    await apiRequest<unknown>("POST", "/auth/logout", { redirectOn401: false });
  } finally {
    setCsrfToken(null);
  }
}

export async function me(): Promise<MeResponse> {
  const answer = await apiRequest<MeResponse>("GET", "/auth/me", { redirectOn401: false });
  setCsrfToken(answer.csrfToken);
  return answer;
}

export const fleets = () => apiRequest<FleetView[]>("GET", "/fleets");

/** Readiness with the connected workers; public, but sent with the session for the full checks. */
export const readiness = () => apiRequest<Readiness>("GET", "/health/ready");

export const previewRollout = (body: CreateRolloutInput) =>
  apiRequest<RolloutPreview>("POST", "/rollouts/preview", { body });

export const createRollout = (body: CreateRolloutInput, idempotencyKey: string) =>
  apiRequest<CreatedRollout>("POST", "/rollouts", { body, headers: { "idempotency-key": idempotencyKey } });

export const rollout = (id: string) =>
  apiRequest<RolloutDetail>("GET", `/rollouts/${encodeURIComponent(id)}`);

export const rollouts = (query: { fleet?: string; status?: string; cursor?: string; limit?: number }) =>
  apiRequest<Page<RolloutSummary>>("GET", "/rollouts", { query });

export type RolloutCommand = "pause" | "resume" | "abort" | "retry" | "skip" | "approve";

export const rolloutCommand = (id: string, command: RolloutCommand, body: Record<string, string> = {}) =>
  apiRequest<RolloutDetail>("POST", `/rollouts/${encodeURIComponent(id)}/${command}`, { body });

/** A linked rollout taking a finished rollout's moved targets back to their previous version. */
export const rollbackRollout = (id: string) =>
  apiRequest<RollbackCreated>("POST", `/rollouts/${encodeURIComponent(id)}/rollback`, { body: {} });

export const runbooks = () => apiRequest<RunbookSummary[]>("GET", "/runbooks");

export const runbookVersion = (name: string, version: number | "latest") =>
  apiRequest<RunbookVersionView>(
    "GET",
    `/runbooks/${encodeURIComponent(name)}/versions/${encodeURIComponent(String(version))}`,
  );

export const validateRunbook = (source: string) =>
  apiRequest<RunbookValidation>("POST", "/runbooks/validate", { body: { source } });

export const createRunbookVersion = (source: string) =>
  apiRequest<RunbookVersionView>("POST", "/runbooks", { body: { source } });

export const audit = (query: AuditQuery) => apiRequest<AuditPage>("GET", "/audit", { query: { ...query } });

export const auditVerify = () => apiRequest<AuditVerifyResult>("GET", "/audit/verify");

export const webhooks = () => apiRequest<WebhookView[]>("GET", "/webhooks");

export const webhookDeliveries = (id: string, limit = 10) =>
  apiRequest<WebhookDeliveryView[]>("GET", `/webhooks/${encodeURIComponent(id)}/deliveries`, {
    query: { limit },
  });
