import type { IncomingMessage } from "node:http";
import { isIP } from "node:net";

/**
 * Lab admin endpoints (this device's admin API, the Kubernetes emulator) listen on loopback and have no
 * credentials, so any web page the operator opens could drive them: by a cross-site request (CSRF), or by
 * a DNS name of its own that resolves to 127.0.0.1 (DNS rebinding, where the browser treats the page and
 * the endpoint as one origin). Both are refused here: the Host must be an IP address or localhost (a
 * rebinding page's Host is its own name), and an Origin, when a browser sends one, must be that same host.
 * Returns why a request is refused, or undefined.
 */
export function foreignRequestProblem(req: IncomingMessage): string | undefined {
  const host = req.headers.host;
  if (host === undefined || !isLocalHostHeader(host))
    return `Host ${JSON.stringify(host ?? "")} is not this endpoint`;
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== "null") {
    let originHost: string;
    try {
      originHost = new URL(origin).host;
    } catch {
      return `Origin ${JSON.stringify(origin)} is not a URL`;
    }
    if (originHost !== host) return `cross-origin request from ${origin} refused`;
  } else if (origin === "null") {
    return "cross-origin request from an opaque origin refused";
  }
  return undefined;
}

function isLocalHostHeader(host: string): boolean {
  const name = host.startsWith("[") ? host.slice(1, host.indexOf("]")) : host.replace(/:\d+$/, "");
  return name === "localhost" || isIP(name) !== 0;
}
