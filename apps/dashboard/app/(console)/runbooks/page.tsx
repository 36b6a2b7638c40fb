import type { Metadata } from "next";
import { RunbooksView } from "../../../features/runbooks/RunbooksView";

export const metadata: Metadata = { title: "Runbooks" };

export default function RunbooksPage() {
  return <RunbooksView />;
}
