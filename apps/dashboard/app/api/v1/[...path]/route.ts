import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { Readable } from "node:stream";

/**
 * /api/v1/* on the dashboard's origin, forwarded to the Ebb API, so the browser only ever talks to one
 * origin (the session cookie is SameSite=Strict and HttpOnly; no CORS). Responses stream, which keeps
 * Server-Sent Events live. EBB_API_URL is read per request, so the URL given to `next start` is the one
 * used (rewrites in next.config are frozen into the build).
 *
 * node:http rather than fetch: the API's login CSRF check compares the browser's Origin with Host, so the
 * browser's Host must reach it unchanged (as a reverse proxy's "preserve host"), and fetch always
 * replaces Host with the upstream's.
 */

export const dynamic = "force-dynamic";

// Hop-by-hop headers (RFC 9110 §7.6.1), and what this hop recomputes.
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  "content-length",
]);

function apiBase(): URL {
  return new URL(process.env.EBB_API_URL ?? "http://127.0.0.1:4000");
}

function unreachable(base: URL, err: unknown): Response {
  return Response.json(
    {
      error: {
        code: "api_unreachable",
        message: `the dashboard cannot reach the Ebb API at ${base.origin}: ${(err as Error).message ?? String(err)}`,
        details: null,
        requestId: "",
      },
    },
    { status: 502 },
  );
}

function send(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: Buffer | undefined,
  signal: AbortSignal,
): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = (url.protocol === "https:" ? httpsRequest : httpRequest)(
      url,
      { method, headers, signal },
      resolve,
    );
    req.on("error", reject);
    req.end(body);
  });
}

function responseHeaders(incoming: IncomingHttpHeaders): Headers {
  const out = new Headers();
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    // Several Set-Cookie headers must stay several headers.
    for (const v of Array.isArray(value) ? value : [value]) out.append(name, v);
  }
  if (out.get("content-type")?.startsWith("text/event-stream")) {
    // no-transform: nothing on the way may buffer the stream to compress it.
    out.set("cache-control", "no-cache, no-transform");
    out.set("x-accel-buffering", "no");
  }
  return out;
}

async function forward(
  request: Request,
  context: { params: Promise<{ path: string[] }> },
): Promise<Response> {
  const { path } = await context.params;
  const base = apiBase();
  const url = new URL(
    `/api/v1/${path.map(encodeURIComponent).join("/")}${new URL(request.url).search}`,
    base,
  );

  const headers: Record<string, string> = {};
  request.headers.forEach((value, name) => {
    if (!HOP_BY_HOP.has(name)) headers[name] = value;
  });
  const body =
    request.method === "GET" || request.method === "HEAD"
      ? undefined
      : Buffer.from(await request.arrayBuffer());
  if (body) headers["content-length"] = String(body.length);

  let upstream: IncomingMessage;
  try {
    upstream = await send(url, request.method, headers, body, request.signal);
  } catch (err) {
    if (request.signal.aborted) return new Response(null, { status: 499 });
    return unreachable(base, err);
  }
  const status = upstream.statusCode ?? 502;
  const out = responseHeaders(upstream.headers);
  if (status === 204 || status === 304 || request.method === "HEAD") {
    upstream.resume();
    return new Response(null, { status, headers: out });
  }
  return new Response(Readable.toWeb(upstream) as ReadableStream<Uint8Array>, {
    status,
    statusText: upstream.statusMessage ?? "",
    headers: out,
  });
}

export { forward as DELETE, forward as GET, forward as PATCH, forward as POST, forward as PUT };
