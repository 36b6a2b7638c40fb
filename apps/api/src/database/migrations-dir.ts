import { fileURLToPath } from "node:url";

/**
 * The repository's prisma/migrations. This file sits at the same depth in src/ (tests) and dist/ (Node),
 * both four levels below the repository root.
 */
export const DEFAULT_MIGRATIONS_DIR = fileURLToPath(
  new URL("../../../../prisma/migrations", import.meta.url),
);
