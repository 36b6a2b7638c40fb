"use client";

import { useRouter } from "next/navigation";
import { useSession } from "../../lib/session";
import { RunbookEditor } from "./RunbookEditor";

const TEMPLATE = `apiVersion: ebb/v1
kind: Runbook
name: my-runbook
description: What this runbook does, and for which balancer.
balancer: l4
steps:
  - id: fail-health-check
    type: exec
    run: ["ebb-vm", "health", "fail"]
  - id: await-unbound
    type: balancer.awaitUnbound
`;

export function NewRunbookView() {
  const router = useRouter();
  const { can } = useSession();
  if (!can("editRunbooks")) {
    return (
      <>
        <h1>New runbook</h1>
        <p role="alert">Your role may not create runbooks.</p>
      </>
    );
  }
  return (
    <>
      <h1>New runbook</h1>
      <RunbookEditor
        initialSource={TEMPLATE}
        onSaved={(saved) => router.push(`/runbooks/${encodeURIComponent(saved.name)}`)}
        onCancel={() => router.push("/runbooks")}
      />
    </>
  );
}
