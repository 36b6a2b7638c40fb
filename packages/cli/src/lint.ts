import type { FleetFindingsView } from "@ebb/contracts";
import { type EbbClient, EXIT, UsageError } from "./client.js";

export const LINT_USAGE = `ebb lint FLEET [--json]
    Reads the live workload of a Kubernetes fleet (its pods, HPAs, PodDisruptionBudgets) and lists what
    would lose requests or work on a termination nobody drains: no or too short preStop, a grace period
    shorter than preStop plus the app's shutdown budget, a sidecar that stops with the app, an HPA or PDB
    that lets more pods go at once than the fleet can lose. Exit 1 when there are errors (warnings alone: 0).
    --json: the findings as JSON.`;

interface Out {
  out: (line: string) => void;
}

/** `ebb lint FLEET`: GET /fleets/:name/findings, printed; exit 1 on any error-severity finding. */
export async function lint(
  client: EbbClient,
  parsed: { values: { json?: boolean | undefined }; positionals: string[] },
  io: Out,
): Promise<number> {
  if (parsed.positionals.length !== 1) throw new UsageError("expected one fleet name");
  const fleet = parsed.positionals[0]!;
  const view = await client.get<FleetFindingsView>(`/fleets/${encodeURIComponent(fleet)}/findings`);
  const errors = view.findings.filter((f) => f.severity === "error").length;
  if (parsed.values.json) io.out(JSON.stringify(view));
  else {
    const w = view.workload;
    const warnings = view.findings.length - errors;
    io.out(
      `${view.fleet}: ${w.kind} ${w.namespace}/${w.name}: ${plural(errors, "error")}, ${plural(warnings, "warning")}`,
    );
    for (const f of view.findings) {
      const numbers = Object.entries(f.numbers)
        .map(([k, v]) => `${k}=${v}`)
        .join(" ");
      io.out("");
      io.out(`${f.severity.padEnd(7)} ${f.rule}  ${f.object.kind} ${f.object.namespace}/${f.object.name}`);
      io.out(`        field: ${f.field}`);
      io.out(`        ${f.message} (${numbers})`);
      if (f.alsoPods?.length) io.out(`        also in pods: ${f.alsoPods.join(", ")}`);
      io.out(`        fix: ${f.fix}`);
    }
    for (const u of view.unread) io.out(`\nnot checked: ${u.kind}: ${u.reason}`);
  }
  return errors > 0 ? EXIT.failed : EXIT.ok;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
