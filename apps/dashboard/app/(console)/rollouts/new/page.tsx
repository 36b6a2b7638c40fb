import type { Metadata } from "next";
import { NewRolloutView } from "../../../../features/rollouts/NewRolloutView";

export const metadata: Metadata = { title: "New rollout" };

export default async function NewRolloutPage({
  searchParams,
}: {
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const { fleet } = await searchParams;
  return <NewRolloutView initialFleet={typeof fleet === "string" ? fleet : null} />;
}
