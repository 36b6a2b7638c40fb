import type { Metadata } from "next";
import { RolloutsList } from "../../../features/rollouts/RolloutsList";

export const metadata: Metadata = { title: "Rollouts" };

export default function RolloutsPage() {
  return <RolloutsList />;
}
