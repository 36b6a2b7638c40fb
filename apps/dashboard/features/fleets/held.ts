import type { FleetHold } from "@ebb/contracts";

/**
 * What the fleet's banner says of a hold, as text (the dashboard does not bundle @ebb/contracts'
 * describeFleetHold, which would bring zod along). Self-contained (no relative imports): unit-tested from test/dashboard.
 */
export function holdText(hold: FleetHold): { why: string; targets: string } {
  const why = `${hold.status}${hold.failure ? ` at ${hold.failure.target} ${hold.failure.step}: ${hold.failure.message}` : ""}`;
  const targets = hold.targets
    .map((t) => {
      const seen = t.balancer ? ` (balancer: ${t.balancer.state}${t.balancer.bound ? "" : ", unbound"})` : "";
      return `${t.name} ${t.status}${seen}`;
    })
    .join(", ");
  return { why, targets };
}
