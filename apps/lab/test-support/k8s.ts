// Helpers for the emulator's tests: kubectl as a real process, and the built lab VM server for pods.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { serverPath } from "../src/vm/paths.js";
import { buildLab } from "./vm.js";

export const KUBECTL = process.env.KUBECTL ?? "/usr/bin/kubectl";

export function tempDir(prefix = "ebb-k8s-"): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

/** Pods run dist/vm/server.js; build it once if it is missing (the VM code is not ours to rebuild). */
export function ensureVmServerBuilt(): void {
  if (!existsSync(serverPath())) buildLab();
}

export interface KubectlRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs kubectl against a kubeconfig, with its discovery cache and HOME in `cacheDir` so nothing lands in
 * the user's ~/.kube.
 */
export function kubectl(
  kubeconfig: string,
  cacheDir: string,
  args: string[],
  input?: string,
): Promise<KubectlRun> {
  return new Promise((resolve) => {
    const child = execFile(
      KUBECTL,
      ["--kubeconfig", kubeconfig, "--cache-dir", cacheDir, "--request-timeout", "20s", ...args],
      { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: cacheDir }, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}
