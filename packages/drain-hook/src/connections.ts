import { readFile } from "node:fs/promises";

/** One TCP connection to the app's port, as /proc/net/tcp lists it. */
export interface Connection {
  remote: string;
  /** The kernel's socket inode: a reused remote address:port is still a new connection. */
  inode: string;
}

/** `0100007F:1F90` (little-endian IPv4, hex port) -> ["127.0.0.1", 8080]. */
function decodeV4(hex: string): [string, number] {
  const [addr = "", p = "0"] = hex.split(":");
  const bytes = [6, 4, 2, 0].map((i) => Number.parseInt(addr.slice(i, i + 2), 16));
  return [bytes.join("."), Number.parseInt(p, 16)];
}

/** IPv6 entries: only IPv4-mapped addresses (::ffff:a.b.c.d) matter for a pod with an IPv4 address. */
function decodeV6(hex: string): [string, number] {
  const [addr = "", p = "0"] = hex.split(":");
  if (addr.length === 32 && addr.slice(0, 24) === "0000000000000000FFFF0000")
    return [decodeV4(`${addr.slice(24)}:0`)[0], Number.parseInt(p, 16)];
  return [addr, Number.parseInt(p, 16)];
}

// States that mean a client connected: ESTABLISHED, SYN_RECV, and those of a connection being closed.
const CONNECTED = new Set(["01", "03", "04", "05", "06", "07", "08", "09", "0B"]);

/**
 * The app port's connections from /proc/net/tcp{,6} in the pod's network namespace (which a sidecar
 * shares): local address = the pod's IP (or any) and port = the app's, excluding the listening socket and
 * the peers to ignore (the kubelet's probes from the node). In the lab, pods share the host's namespace,
 * so the pod's own address tells its connections apart.
 */
export function parseProcNetTcp(
  text: string,
  v6: boolean,
  podIP: string,
  appPort: number,
  ignore: ReadonlySet<string>,
): Connection[] {
  const out: Connection[] = [];
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const [localIp, localPort] = v6 ? decodeV6(f[1]!) : decodeV4(f[1]!);
    const [remoteIp, remotePort] = v6 ? decodeV6(f[2]!) : decodeV4(f[2]!);
    if (localPort !== appPort || !CONNECTED.has(f[3]!)) continue;
    if (localIp !== podIP && localIp !== "0.0.0.0") continue;
    if (ignore.has(remoteIp)) continue;
    out.push({ remote: `${remoteIp}:${remotePort}`, inode: f[9]! });
  }
  return out;
}

export async function readConnections(
  podIP: string,
  appPort: number,
  ignore: ReadonlySet<string>,
): Promise<Connection[]> {
  const read = (file: string) => readFile(file, "utf8").catch(() => "");
  const [v4, v6] = await Promise.all([read("/proc/net/tcp"), read("/proc/net/tcp6")]);
  return [
    ...parseProcNetTcp(v4, false, podIP, appPort, ignore),
    ...parseProcNetTcp(v6, true, podIP, appPort, ignore),
  ];
}
