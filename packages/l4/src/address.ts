/** `host:port`, with an IPv6 host in brackets (`[::1]:8080`), as URLs, Host headers and flow keys write it. */
export function hostPort(host: string, port: number): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}
