import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// @kubernetes/client-node costs a process ~85 MB of RSS just to import: a worker (or the API) must not pay it
// unless it drives a Kubernetes fleet. A real node process imports the built packages with a resolve hook that
// reports every module of the client it loads.

const root = path.resolve(import.meta.dirname, "../..");
let dir: string;
let register: string;

/** The client's modules the snippet loaded (by URL), as the hook saw them resolve. */
function clientModulesLoadedBy(snippet: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ["--import", pathToFileURL(register).href, "--input-type=module", "-e", snippet],
      { cwd: root, timeout: 60_000 },
      (err, _stdout, stderr) => {
        if (err) reject(new Error(`${err.message}\n${stderr}`));
        else resolve(stderr.split("\n").filter((l) => l.startsWith("client-node ")));
      },
    );
  });
}

describe("@kubernetes/client-node is loaded only for a Kubernetes fleet", () => {
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "ebb-lazy-"));
    const hooks = path.join(dir, "hooks.mjs");
    await writeFile(
      hooks,
      `export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  if (r.url.includes("/@kubernetes/client-node/")) process.stderr.write("client-node " + r.url + "\\n");
  return r;
}
`,
    );
    register = path.join(dir, "register.mjs");
    await writeFile(
      register,
      `import { register } from "node:module";\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`,
    );
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("importing the API (and the drivers' index, with its lazy balancer) does not load it", async () => {
    expect(
      await clientModulesLoadedBy(`
        await import("@ebb/api");
        const { LazyKubernetesBalancer } = await import("@ebb/drivers");
        new LazyKubernetesBalancer({ namespace: "n", workload: { kind: "StatefulSet", name: "w" }, service: "s", propagationWindowMs: 0 });
      `),
    ).toEqual([]);
  });

  it("the driver's subpath, or the lazy balancer's first use, does (the test above can fail)", async () => {
    expect((await clientModulesLoadedBy(`await import("@ebb/drivers/kubernetes");`)).length).toBeGreaterThan(
      0,
    );
    const loaded = await clientModulesLoadedBy(`
      const { LazyKubernetesBalancer } = await import("@ebb/drivers");
      const b = new LazyKubernetesBalancer({ kubeconfigPath: "/nonexistent", namespace: "n", workload: { kind: "StatefulSet", name: "w" }, service: "s", propagationWindowMs: 0 });
      await b.load().catch(() => {});
    `);
    expect(loaded.length).toBeGreaterThan(0);
  });
});
