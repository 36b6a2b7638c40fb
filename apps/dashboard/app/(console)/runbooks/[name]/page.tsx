import type { Metadata } from "next";
import { RunbookDetail } from "../../../../features/runbooks/RunbookDetail";

export const metadata: Metadata = { title: "Runbook" };

/** Segment values may arrive still percent-encoded; a stray "%" must not throw. */
function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

export default async function RunbookPage({ params }: { params: Promise<{ name: string }> }) {
  const { name } = await params;
  return <RunbookDetail name={safeDecode(name)} />;
}
