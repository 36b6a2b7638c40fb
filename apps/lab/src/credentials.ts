import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";

/** What `npm start` logs in with when the operator gave none: kept so a restart keeps them working. */
export interface LabCredentials {
  username: string;
  password: string;
  adminToken: string;
}

/**
 * The lab's generated credentials, from `<dataDir>/lab-credentials.json` (mode 600) or made now. There is
 * no default password: each checkout gets its own random one, printed by `npm start`.
 */
export async function labCredentials(dataDir: string): Promise<LabCredentials> {
  const file = path.join(dataDir, "lab-credentials.json");
  try {
    const stored = JSON.parse(await readFile(file, "utf8")) as Partial<LabCredentials>;
    if (stored.username && stored.password && stored.adminToken) return stored as LabCredentials;
  } catch {
    // missing or unreadable: make new ones
  }
  const created: LabCredentials = {
    username: "admin",
    password: randomBytes(12).toString("base64url"),
    adminToken: `ebb_lab_${randomBytes(24).toString("base64url")}`,
  };
  await mkdir(dataDir, { recursive: true });
  await writeFile(file, `${JSON.stringify(created, null, 2)}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return created;
}
