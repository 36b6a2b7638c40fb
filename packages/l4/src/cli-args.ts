import { readFileSync } from "node:fs";
import { type DeepPartialConfig, isPlainObject } from "./config.js";
import type { RealServerSpec } from "./types.js";

export interface CliOptions {
  config: DeepPartialConfig;
  servers: RealServerSpec[];
  help: boolean;
}

export const USAGE = `usage: ebb-l4 [--vip HOST:PORT] [--admin HOST:PORT] [--server [NAME=]HOST:PORT[,WEIGHT]]...
              [--config FILE.json] [--time-scale N]

Starts the emulated L4 device; Ctrl-C (SIGINT) or SIGTERM stops it.
  --vip         where clients connect (default 127.0.0.1:8080)
  --admin       the admin API (default 127.0.0.1:8081)
  --server      a real server in the binding list; repeat for more
  --config      a JSON file: device config fields, optionally with "servers": [{name, host, port, weight}]
  --time-scale  multiply every device duration (0.1: a 10 s check interval becomes 1 s)
Flags win over the config file.`;

/** A usage error: the message names the flag and what was expected. */
export class CliError extends Error {
  override name = "CliError";
}

export function parseCliArgs(
  argv: readonly string[],
  readFile = (p: string) => readFileSync(p, "utf8"),
): CliOptions {
  let fileConfig: Record<string, unknown> = {};
  let fileServers: RealServerSpec[] = [];
  const flags: DeepPartialConfig = {};
  const servers: RealServerSpec[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.startsWith("--") && arg.includes("=") ? splitOnce(arg, "=") : [arg, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || (inline === undefined && v.startsWith("--")))
        throw new CliError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case "--help":
      case "-h":
        help = true;
        break;
      case "--vip":
        flags.vip = parseHostPort(value(), flag);
        break;
      case "--admin":
        flags.admin = parseHostPort(value(), flag);
        break;
      case "--server":
        servers.push(parseServer(value()));
        break;
      case "--time-scale": {
        const v = value();
        const n = Number(v);
        if (v.trim() === "" || !Number.isFinite(n))
          throw new CliError(`--time-scale: ${JSON.stringify(v)} is not a number`);
        flags.timeScale = n;
        break;
      }
      case "--config": {
        ({ config: fileConfig, servers: fileServers } = readConfigFile(value(), readFile));
        break;
      }
      default:
        throw new CliError(`unknown argument ${JSON.stringify(arg)}`);
    }
  }
  return {
    config: { ...(fileConfig as DeepPartialConfig), ...flags },
    servers: [...fileServers, ...servers],
    help,
  };
}

function readConfigFile(
  file: string,
  readFile: (p: string) => string,
): { config: Record<string, unknown>; servers: RealServerSpec[] } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFile(file));
  } catch (err) {
    throw new CliError(`--config ${file}: ${(err as Error).message}`, { cause: err });
  }
  if (!isPlainObject(parsed)) throw new CliError(`--config ${file}: expected a JSON object`);
  const { servers, ...config } = parsed;
  if (servers !== undefined && !Array.isArray(servers))
    throw new CliError(`--config ${file}: servers must be an array`);
  // Each server spec is validated by the device, which names the bad field.
  return { config, servers: (servers ?? []) as RealServerSpec[] };
}

/** `127.0.0.1:8080` or `[::1]:8080`. */
export function parseHostPort(text: string, flag = "address"): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535) throw new CliError(`${flag}: expected HOST:PORT, got ${JSON.stringify(text)}`);
  return { host: (m[1] ?? m[2])!, port };
}

/** `[name=]host:port[,weight]` */
function parseServer(text: string): RealServerSpec {
  const [named, weightText] = splitOnce(text, ",");
  const [name, address] = named.includes("=") ? splitOnce(named, "=") : [undefined, named];
  const { host, port } = parseHostPort(address ?? "", "--server");
  const spec: RealServerSpec = { host, port };
  if (name) spec.name = name;
  if (weightText !== undefined) {
    const weight = Number(weightText);
    if (!Number.isInteger(weight)) throw new CliError(`--server ${text}: weight must be an integer`);
    spec.weight = weight;
  }
  return spec;
}

function splitOnce(text: string, sep: string): [string, string | undefined] {
  const i = text.indexOf(sep);
  return i < 0 ? [text, undefined] : [text.slice(0, i), text.slice(i + sep.length)];
}
