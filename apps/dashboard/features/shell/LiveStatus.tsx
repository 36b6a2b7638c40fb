import type { StreamStatus } from "../../lib/sse";

const TEXT: Record<StreamStatus, string> = {
  connecting: "connecting…",
  open: "live",
  reconnecting: "reconnecting…",
  closed: "not live",
};

/** Whether a page's live stream is connected; reconnecting is shown, never hidden. */
export function LiveStatus({ status }: { status: StreamStatus }) {
  return (
    <span className={`live live-${status}`} role="status" data-stream={status}>
      {TEXT[status]}
    </span>
  );
}
