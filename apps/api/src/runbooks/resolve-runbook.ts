import { createHash } from "node:crypto";
import {
  builtinRunbookSource,
  EbbError,
  isBuiltinRunbookName,
  parseRunbookOrThrow,
  type Runbook,
} from "@ebb/core";
import { Prisma, type PrismaClient } from "../generated/prisma/client.js";

/** A built-in runbook (stored once as a version) or the latest stored version of that name. */
export async function resolveRunbook(
  prisma: PrismaClient,
  name: string,
): Promise<{ runbook: Runbook; versionId: string }> {
  if (isBuiltinRunbookName(name)) {
    const source = builtinRunbookSource(name);
    const checksum = createHash("sha256").update(source).digest("hex");
    const runbook = parseRunbookOrThrow(source, `builtin runbook ${name}`);
    const existing = await prisma.runbookVersion.findUnique({ where: { name_checksum: { name, checksum } } });
    if (existing) return { runbook, versionId: existing.id };
    const last = await prisma.runbookVersion.findFirst({ where: { name }, orderBy: { version: "desc" } });
    try {
      const created = await prisma.runbookVersion.create({
        data: { name, version: (last?.version ?? 0) + 1, source, checksum, createdBy: "builtin" },
      });
      return { runbook, versionId: created.id };
    } catch (err) {
      // Two first rollouts at once both storing the builtin: the loser reads the winner's row.
      if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === "P2002") {
        const row = await prisma.runbookVersion.findUniqueOrThrow({
          where: { name_checksum: { name, checksum } },
        });
        return { runbook, versionId: row.id };
      }
      throw err;
    }
  }
  const latest = await prisma.runbookVersion.findFirst({ where: { name }, orderBy: { version: "desc" } });
  if (!latest) {
    throw new EbbError("not_found", `runbook "${name}" does not exist`, {
      details: [{ field: "runbook", message: "unknown runbook" }],
    });
  }
  return {
    runbook: parseRunbookOrThrow(latest.source, `runbook ${name} v${latest.version}`),
    versionId: latest.id,
  };
}
