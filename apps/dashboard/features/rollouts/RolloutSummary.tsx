import type { RolloutDetail } from "../../lib/api/types";
import { formatDuration } from "../../lib/format";

/**
 * When a rollout is over: the client errors the balancer counted in its drains (recorded by the worker,
 * whether or not this page was open), and its duration against the floor the
 * balancer's timing allows (no drain is faster than the device detecting a failed check; batches run one
 * after the other, so the floor is one target's floor per batch).
 */
export function RolloutSummary({
  rollout,
  resetsSeen,
}: {
  rollout: RolloutDetail;
  /** Resets the balancer counted on these targets while this page was open (samples are per second). */
  resetsSeen: number | null;
}) {
  const started = rollout.startedAt ? Date.parse(rollout.startedAt) : null;
  const finished = rollout.finishedAt ? Date.parse(rollout.finishedAt) : null;
  const duration = started !== null && finished !== null ? finished - started : null;
  const floor =
    rollout.floorPerTargetMs > 0 ? rollout.floorPerTargetMs * Math.max(1, rollout.batches.length) : null;
  const ratio = duration !== null && floor ? duration / floor : null;
  const proof = rollout.drainProof;
  const errors = proof.drains > 0 ? proof.clientErrors : null;
  const errorClass = (n: number | null | undefined) => (n ? "alert-text" : n === 0 ? "ok-text" : undefined);
  return (
    <section className="card summary" aria-labelledby="summary-title" data-testid="summary">
      <h2 id="summary-title">Summary</h2>
      <dl className="facts">
        <div>
          <dt>Client errors seen by the balancer in drains</dt>
          <dd data-testid="client-errors" className={errorClass(errors)}>
            {errors === null
              ? "no drain recorded (the balancer gives no counters)"
              : `${errors} across ${proof.drains} drain${proof.drains === 1 ? "" : "s"}`}
          </dd>
        </div>
        {resetsSeen !== null && (
          <div>
            <dt>Resets seen by the balancer (while this page was open)</dt>
            <dd data-testid="resets-seen" className={errorClass(resetsSeen)}>
              {Math.round(resetsSeen)}
            </dd>
          </div>
        )}
        <div>
          <dt>Duration</dt>
          <dd data-testid="duration">{formatDuration(duration)}</dd>
        </div>
        <div>
          <dt>Floor from the balancer's timing</dt>
          <dd>{formatDuration(floor)}</dd>
        </div>
        <div>
          <dt>Against the floor</dt>
          <dd>{ratio === null ? "–" : `${ratio.toFixed(2)}×`}</dd>
        </div>
        <div>
          <dt>Expected</dt>
          <dd>{formatDuration(rollout.expectedDurationMs)}</dd>
        </div>
      </dl>
      {errors !== null && errors > 0 && (
        <ul className="error" data-testid="drain-errors">
          {rollout.targets.flatMap((t) =>
            (t.drain?.steps ?? [])
              .filter((st) => st.clientErrors > 0)
              .map((st) => (
                <li key={`${t.name}-${st.step}`}>
                  {t.name} during {st.step}: {st.clientErrors} reset{st.clientErrors === 1 ? "" : "s"}
                </li>
              )),
          )}
        </ul>
      )}
      {rollout.failure && (
        <p className="error">
          {rollout.failure.target} failed at {rollout.failure.step}: {rollout.failure.message}
        </p>
      )}
    </section>
  );
}
