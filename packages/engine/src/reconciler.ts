import { type JobName, type JobPayload, jobId } from "@ebb/contracts";
import { formatDuration, type RolloutEvent, rollbackOutcome, type TargetRun } from "@ebb/core";
import type { JobQueue, RolloutStore } from "./ports.js";

type ExpectedJob = { [N in JobName]: { name: N; payload: JobPayload<N> } }[
  | "step.run"
  | "rollout.restore"
  | "approval.timeout"];

/**
 * Re-creates from the database every job the state says must exist and the queue does not have (a flushed
 * Redis, a crash between commit and dispatch). Safe to run any time, from any process: jobs have
 * deterministic ids, so a job that exists is not added twice.
 */
export async function reconcile(deps: {
  store: RolloutStore;
  queue: JobQueue;
  send: (rolloutId: string, event: RolloutEvent) => Promise<unknown>;
  log: (line: string) => void;
  now: () => number;
  approvalTtlMs?: number;
}): Promise<{ rollouts: number; recreated: number }> {
  const { store, queue, log } = deps;
  if (deps.approvalTtlMs !== undefined) {
    for (const id of await store.approvalsWaitingSince(deps.now() - deps.approvalTtlMs)) {
      const reason = `nobody approved it within ${formatDuration(deps.approvalTtlMs)}: its targets are released`;
      log(`rollout ${id}: approval expired; aborting it (${reason})`);
      await deps
        .send(id, { type: "abort", by: "ebb", reason: `approval expired: ${reason}` })
        .catch((err: unknown) => log(`abort ${id}: ${(err as Error).message}`));
    }
  }
  const rollouts = await store.activeRollouts();
  let recreated = 0;
  for (const { id, status } of rollouts) {
    if (status === "pending") {
      await deps
        .send(id, { type: "start" })
        .catch((err: unknown) => log(`start ${id}: ${(err as Error).message}`));
      continue;
    }
    const state = await store.state(id);
    // Waiting for a rollback whose end was committed by a worker that died before telling this rollout.
    const linked = state.rollback?.rolloutId;
    if (linked !== undefined && (state.status === "rolling_back" || state.status === "failed")) {
      const outcome = rollbackOutcome(await store.state(linked));
      const settles =
        outcome?.type === "rollback.finished" && (state.status === "rolling_back" || outcome.ok);
      if (outcome !== undefined && settles)
        await deps.send(id, outcome).catch((err: unknown) => log(`settle ${id}: ${(err as Error).message}`));
      continue;
    }
    const leases = await store.leaseTokens(id);
    for (const run of Object.values(state.targets)) {
      const expected = expectedJob(id, run, leases[run.target]);
      if (!expected) continue;
      const jid = jobId(expected.name, expected.payload as never);
      const jobState = await queue.state(jid);
      if (
        (jobState === "completed" ||
          jobState === "failed" ||
          jobState === "missing" ||
          jobState === "unknown") &&
        (await stillExpected(store, id, run.target, jid, leases[run.target]))
      ) {
        if (jobState === "completed" || jobState === "failed") await queue.remove(jid).catch(() => {});
        // A lost approval timeout keeps its deadline: re-added at once, it would time the gate out now.
        const delay =
          expected.name === "approval.timeout" && run.deadline !== undefined
            ? Math.max(0, run.deadline - deps.now())
            : 0;
        await queue.add(expected.name, expected.payload as never, delay);
        recreated++;
      }
    }
  }
  if (recreated > 0) log(`reconciler re-created ${recreated} job(s)`);
  return { rollouts: rollouts.length, recreated };
}

/**
 * Whether the target's run, read again now, still needs the job `jid`. The state was read before the
 * queue: a step that ended in between (its transition committed, then its job completed) would otherwise
 * look like a lost job, and the stale job re-added (runs for nothing; "re-created N jobs" in the log while
 * 1,000 targets move on at once). Only for jobs that look lost: one read each, rarely.
 */
async function stillExpected(
  store: RolloutStore,
  rolloutId: string,
  target: string,
  jid: string,
  leaseToken: string | undefined,
): Promise<boolean> {
  const run = (await store.currentStep(rolloutId, target))?.run;
  const again = run ? expectedJob(rolloutId, run, leaseToken) : undefined;
  return again !== undefined && jobId(again.name, again.payload as never) === jid;
}

/** The one job a target run needs right now, if any. */
export function expectedJob(
  rolloutId: string,
  run: TargetRun,
  leaseToken: string | undefined,
): ExpectedJob | undefined {
  const ref = { rolloutId, target: run.target, stepIndex: run.stepIndex, attempt: run.attempt };
  switch (run.status) {
    case "running":
    case "waiting":
      return leaseToken === undefined ? undefined : { name: "step.run", payload: { ...ref, leaseToken } };
    case "awaitingApproval":
      return { name: "approval.timeout", payload: ref };
    case "restoring":
      return { name: "rollout.restore", payload: { rolloutId, target: run.target } };
    default:
      return undefined;
  }
}
