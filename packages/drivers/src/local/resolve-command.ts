import { constants } from "node:fs";
import { access, stat } from "node:fs/promises";
import { delimiter, isAbsolute, join, resolve } from "node:path";

/**
 * Where `execvp` would find `program`: a name with a slash is taken as a path (relative to `cwd`), a bare
 * name is searched in `PATH`. Done up front so that a missing program reads the same with and without the
 * lock wrapper (flock would otherwise turn it into its own exit status 69).
 */
export async function resolveCommand(
  program: string,
  env: Readonly<Record<string, string>>,
  cwd: string | undefined,
): Promise<string | undefined> {
  if (program.includes("/")) {
    const path = isAbsolute(program) ? program : resolve(cwd ?? ".", program);
    return (await isExecutableFile(path)) ? path : undefined;
  }
  for (const dir of (env.PATH ?? "").split(delimiter)) {
    // An empty PATH entry means the working directory, as for execvp.
    const candidate = join(dir === "" ? (cwd ?? ".") : dir, program);
    if (await isExecutableFile(candidate)) return isAbsolute(candidate) ? candidate : resolve(candidate);
  }
  return undefined;
}

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    const info = await stat(path);
    if (!info.isFile()) return false;
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}
