import path from "node:path";
import type { NextConfig } from "next";

/**
 * The browser only ever talks to this origin: /api/v1/* is forwarded to the Ebb API by the route handler
 * in app/api/v1/[...path]/route.ts, which reads EBB_API_URL per request. Rewrites are not used for this:
 * `next build` writes them into the routes manifest, so an API URL given only to `next start` would be
 * ignored.
 */
const config: NextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
  // gzip on the Node server buffers a streamed body until it has enough to compress, which holds back
  // Server-Sent Events (traffic arrives once a second). The dashboard is served to operators on a
  // LAN or loopback; uncompressed assets cost little there.
  compress: false,
  devIndicators: false,
  // The Docker image (EBB_DASHBOARD_STANDALONE=1 in the Dockerfile) runs `.next/standalone`: a server.js
  // with only the modules it imports, traced from the repository root so @ebb/contracts is included.
  // The lab keeps `next start` and skips the tracing.
  ...(process.env.EBB_DASHBOARD_STANDALONE === "1"
    ? { output: "standalone", outputFileTracingRoot: path.resolve(import.meta.dirname, "../..") }
    : {}),
};

export default config;
