import { parseRunbookOrThrow, type Runbook } from "@ebb/core";
import type { PrismaClient } from "../generated/prisma/client.js";

/** Runbook versions are immutable, so a parsed version can be kept for the life of the process. */
export class RunbookCache {
  private readonly parsed = new Map<string, Runbook>();

  constructor(private readonly prisma: PrismaClient) {}

  async get(versionId: string, source?: string): Promise<Runbook> {
    const hit = this.parsed.get(versionId);
    if (hit) return hit;
    const text =
      source ?? (await this.prisma.runbookVersion.findUniqueOrThrow({ where: { id: versionId } })).source;
    const runbook = parseRunbookOrThrow(text, `runbook version ${versionId}`);
    this.parsed.set(versionId, runbook);
    return runbook;
  }
}
