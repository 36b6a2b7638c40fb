import type { Metadata } from "next";
import { NewRunbookView } from "../../../../features/runbooks/NewRunbookView";

export const metadata: Metadata = { title: "New runbook" };

export default function NewRunbookPage() {
  return <NewRunbookView />;
}
