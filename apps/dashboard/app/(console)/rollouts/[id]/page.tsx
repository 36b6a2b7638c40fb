import type { Metadata } from "next";
import { RolloutView } from "../../../../features/rollouts/RolloutView";

export const metadata: Metadata = { title: "Rollout" };

export default async function RolloutPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  return <RolloutView id={id} />;
}
