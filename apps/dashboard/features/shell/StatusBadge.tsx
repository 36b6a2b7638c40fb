/** A status word with a colour class; the word itself is always shown, colour is never the only cue. */
export function StatusBadge({ status, label }: { status: string; label?: string }) {
  return (
    <span className={`badge badge-${status}`} data-status={status}>
      {label ?? status}
    </span>
  );
}
