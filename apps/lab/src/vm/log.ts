type Fields = Record<string, unknown>;

/** JSON lines on stdout (the VM's stdout is vm.log). Callers never pass secrets. */
export interface VmLogger {
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  /** One line per answered request: `{t, method, path, status, conn}`. */
  request(fields: { method: string; path: string; status: number; conn: number } & Fields): void;
}

export function jsonLogger(write: (line: string) => void = (l) => process.stdout.write(l)): VmLogger {
  const line = (fields: Fields) => write(`${JSON.stringify({ t: new Date().toISOString(), ...fields })}\n`);
  return {
    info: (msg, fields) => line({ level: "info", msg, ...fields }),
    warn: (msg, fields) => line({ level: "warn", msg, ...fields }),
    error: (msg, fields) => line({ level: "error", msg, ...fields }),
    request: (fields) => line(fields),
  };
}

export function errorFields(err: unknown): Fields {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return { err: err.message, ...(code ? { code } : {}) };
  }
  return { err: String(err) };
}
