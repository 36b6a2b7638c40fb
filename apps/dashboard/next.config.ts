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
};

export default config;
