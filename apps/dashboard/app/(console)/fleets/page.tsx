import type { Metadata } from "next";
import { FleetsView } from "../../../features/fleets/FleetsView";

export const metadata: Metadata = { title: "Fleets" };

export default function FleetsPage() {
  return <FleetsView />;
}
