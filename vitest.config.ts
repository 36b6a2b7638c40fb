import swc from "unplugin-swc";
import { defaultServerConditions } from "vite";
import { defineConfig } from "vitest/config";

// Workspace packages export their TypeScript sources under the "@ebb/source"
// condition, so tests run against src without a build. Child processes that
// tests spawn (lab VMs, the device CLI) run the built dist instead.
//
// Without "module": vitest hands these conditions to Node itself (--conditions), and that bundler-only
// condition makes Node load builds it cannot run (@opentelemetry/api's, which prom-client requires, has
// extensionless imports). Node never uses "module" in production, so the tests resolve as it does.
const conditions = ["@ebb/source", ...defaultServerConditions.filter((c) => c !== "module")];

// The campaigns (the soak, the fault campaign, kill -9 through a Deployment rollout) run in `npm test` at their
// short length; `npm run test:campaigns` (EBB_CAMPAIGNS=1) runs only them, and bench/ at full length.
const CAMPAIGNS = [
  "test/lab/soak.test.ts",
  "test/engine/fault-campaign.test.ts",
  "test/k8s/deploy-chaos.test.ts",
];

const UNITS = ["packages/*/src/**/*.test.ts", "apps/*/src/**/*.test.ts"];
const SCENARIOS = ["test/**/*.test.ts"];

export default defineConfig({
  // swc instead of esbuild: NestJS needs emitDecoratorMetadata.
  plugins: [swc.vite({ module: { type: "es6" } })],
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ["default"],
    projects: [
      // The tests beside the code: each file binds its own loopback addresses (or port 0), so two run at
      // once, and they finish before the first scenario starts.
      {
        extends: true,
        test: {
          name: "units",
          include: process.env.EBB_CAMPAIGNS ? [] : UNITS,
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      // The scenarios drive whole worlds (lab VMs, clusters, HAProxy, Ebb's processes) against timing: one
      // file at a time, so one file's load never shows up as another's lost request.
      {
        extends: true,
        test: {
          name: "scenarios",
          include: process.env.EBB_CAMPAIGNS ? CAMPAIGNS : SCENARIOS,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
