import type { Metadata } from "next";
import { RolloutView } from "../../../../features/rollouts/RolloutView";

export const metadata: Metadata = { title: "Rollout" };

export default async function RolloutPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  // Keyed: following a link to the linked (rollback) rollout starts a fresh view, not this one's timeline.
  return <RolloutView key={id} id={id} />;
}
