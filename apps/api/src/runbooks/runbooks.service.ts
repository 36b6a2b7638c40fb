import { createHash } from "node:crypto";
import type { RunbookSummary, RunbookValidation, RunbookVersionView } from "@ebb/contracts";
import { BUILTIN_RUNBOOK_NAMES, EbbError, isBuiltinRunbookName, parseRunbook } from "@ebb/core";
import { Inject, Injectable } from "@nestjs/common";
import type { Principal } from "../auth/principal.js";
import { DATABASE } from "../common/tokens.js";
import type { Database } from "../database/client.js";
import { Prisma } from "../generated/prisma/client.js";
import { resolveRunbook } from "./resolve-runbook.js";

type VersionRow = Prisma.RunbookVersionGetPayload<object>;

/**
 * Runbook documents as immutable versions: creating one with a name that exists adds version N+1; the
 * same text again is the existing version. Built-in runbooks come from the repository's YAML files and
 * cannot be replaced through the API (their file is their source of truth).
 */
@Injectable()
export class RunbooksService {
  @Inject(DATABASE) private readonly db!: Database;

  async list(): Promise<RunbookSummary[]> {
    const rows = await this.db.prisma.runbookVersion.findMany({
      select: { name: true, version: true, createdAt: true, createdBy: true },
      orderBy: [{ name: "asc" }, { version: "desc" }],
    });
    const byName = new Map<string, RunbookSummary>();
    for (const name of BUILTIN_RUNBOOK_NAMES)
      byName.set(name, { name, builtin: true, latestVersion: null, versions: [] });
    for (const r of rows) {
      let entry = byName.get(r.name);
      if (!entry) {
        entry = { name: r.name, builtin: false, latestVersion: null, versions: [] };
        byName.set(r.name, entry);
      }
      entry.latestVersion ??= r.version;
      entry.versions.push({
        version: r.version,
        createdAt: r.createdAt.toISOString(),
        createdBy: r.createdBy,
      });
    }
    return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The latest version; a built-in is stored on first read, so it has a version number like any other. */
  async latest(name: string): Promise<RunbookVersionView> {
    const { versionId } = await resolveRunbook(this.db.prisma, name);
    return view(await this.db.prisma.runbookVersion.findUniqueOrThrow({ where: { id: versionId } }));
  }

  async version(name: string, version: number): Promise<RunbookVersionView> {
    const row = await this.db.prisma.runbookVersion.findUnique({
      where: { name_version: { name, version } },
    });
    if (!row) throw new EbbError("not_found", `runbook "${name}" has no version ${version}`);
    return view(row);
  }

  validate(source: string): RunbookValidation {
    const result = parseRunbook(source);
    if (!result.ok) return { ok: false, name: null, issues: result.errors, steps: [] };
    return {
      ok: true,
      name: result.runbook.name,
      issues: [],
      steps: result.runbook.steps.map((s) => ({ id: s.id, type: s.type })),
    };
  }

  /** Stores a new version; `created` is false when the same text was stored before. */
  async create(
    source: string,
    principal: Principal | undefined,
  ): Promise<{ created: boolean; version: RunbookVersionView }> {
    const result = parseRunbook(source);
    if (!result.ok) {
      throw new EbbError(
        "runbook_invalid",
        `the runbook is invalid: ${result.errors
          .slice(0, 3)
          .map((e) => `${e.line === undefined ? "" : `line ${e.line}, `}${e.path}: ${e.message}`)
          .join("; ")}${result.errors.length > 3 ? "; ..." : ""}`,
        { details: result.errors },
      );
    }
    const name = result.runbook.name;
    if (isBuiltinRunbookName(name))
      throw new EbbError(
        "conflict",
        `"${name}" is a built-in runbook; copy it under another name to change it`,
        { details: [{ path: "name", message: "is the name of a built-in runbook" }] },
      );
    const checksum = createHash("sha256").update(source).digest("hex");
    for (let attempt = 0; ; attempt++) {
      const same = await this.db.prisma.runbookVersion.findUnique({
        where: { name_checksum: { name, checksum } },
      });
      if (same) return { created: false, version: view(same) };
      const last = await this.db.prisma.runbookVersion.findFirst({
        where: { name },
        orderBy: { version: "desc" },
      });
      try {
        const row = await this.db.prisma.runbookVersion.create({
          data: {
            name,
            version: (last?.version ?? 0) + 1,
            source,
            checksum,
            createdBy: principal?.name ?? null,
          },
        });
        return { created: true, version: view(row) };
      } catch (err) {
        // Two versions created at once: the loser takes the next number.
        if (attempt < 3 && err instanceof Prisma.PrismaClientKnownRequestError && err.code === "P2002")
          continue;
        throw err;
      }
    }
  }
}

function view(row: VersionRow): RunbookVersionView {
  return {
    id: row.id,
    name: row.name,
    version: row.version,
    source: row.source,
    checksum: row.checksum,
    createdAt: row.createdAt.toISOString(),
    createdBy: row.createdBy,
  };
}
