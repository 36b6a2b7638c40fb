import { describeError } from "../../lib/api/errors";

/** An error of a load or an action, said in one line, announced to screen readers. */
export function ErrorNote({ error, what }: { error: unknown; what?: string }) {
  if (!error) return null;
  return (
    <p className="error" role="alert">
      {what ? `${what}: ` : ""}
      {describeError(error)}
    </p>
  );
}
