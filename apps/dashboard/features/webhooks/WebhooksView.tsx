"use client";

import { useEffect, useState } from "react";
import * as api from "../../lib/api/endpoints";
import type { WebhookDeliveryView, WebhookView } from "../../lib/api/types";
import { formatTime } from "../../lib/format";
import { useSession } from "../../lib/session";
import { ErrorNote } from "../shell/ErrorNote";
import { StatusBadge } from "../shell/StatusBadge";

/**
 * Webhooks and their recent deliveries, read-only: they are created and deleted through the API or the
 * CLI (`POST /api/v1/webhooks`, docs/webhooks.md). Admin only, like the API's routes.
 */
export function WebhooksView() {
  const { can } = useSession();
  const [hooks, setHooks] = useState<WebhookView[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const allowed = can("manageWebhooks");

  useEffect(() => {
    if (allowed) api.webhooks().then(setHooks, setError);
  }, [allowed]);

  return (
    <>
      <div className="page-head">
        <h1>Webhooks</h1>
      </div>
      {!allowed && <p>Only admins see webhooks: a webhook's URL may itself be a credential.</p>}
      <ErrorNote error={error} what="Loading the webhooks failed" />
      {allowed && hooks === null && !error && <p role="status">Loading webhooks…</p>}
      {hooks?.length === 0 && (
        <p>
          No webhook yet. Create one with <code>POST /api/v1/webhooks</code> (see docs/webhooks.md).
        </p>
      )}
      {hooks?.map((hook) => (
        <WebhookCard key={hook.id} hook={hook} />
      ))}
    </>
  );
}

function WebhookCard({ hook }: { hook: WebhookView }) {
  const [deliveries, setDeliveries] = useState<WebhookDeliveryView[] | null>(null);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    api.webhookDeliveries(hook.id).then(setDeliveries, setError);
  }, [hook.id]);

  return (
    <section className="card" data-testid="webhook" aria-labelledby={`webhook-${hook.id}`}>
      <h2 id={`webhook-${hook.id}`}>
        {hook.name} <span className="badge">{hook.format}</span>
        {hook.signed && <span className="badge">signed</span>}
      </h2>
      <p>
        <code>{hook.url}</code> · {hook.fleet === null ? "every fleet" : `fleet ${hook.fleet}`} ·{" "}
        {hook.events.join(", ")}
      </p>
      <ErrorNote error={error} what="Loading the deliveries failed" />
      {deliveries?.length === 0 && <p>No delivery yet.</p>}
      {deliveries && deliveries.length > 0 && (
        <table className="table" data-testid="deliveries">
          <caption>Recent deliveries</caption>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Event</th>
              <th scope="col">Status</th>
              <th scope="col">Tries</th>
              <th scope="col">Answer</th>
              <th scope="col">Last error</th>
            </tr>
          </thead>
          <tbody>
            {deliveries.map((d) => (
              <tr key={d.id}>
                <td>{formatTime(d.createdAt)}</td>
                <td>{d.event}</td>
                <td>
                  <StatusBadge status={d.status} />
                </td>
                <td>{d.attempts}</td>
                <td>{d.responseStatus ?? "–"}</td>
                <td>{d.lastError ?? "–"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
