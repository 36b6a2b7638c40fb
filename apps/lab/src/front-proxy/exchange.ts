import type { Socket } from "node:net";
import { type ParsedResponse, ResponseParser } from "./response-parser.js";

export type ExchangeResult =
  | { ok: true; response: ParsedResponse; reusable: boolean }
  /**
   * reset: the connection failed (RST, EPIPE or EOF) before a complete response;
   * connect: no connection to the upstream; protocol: malformed response; timeout: no response in time.
   */
  | { ok: false; reason: "reset" | "connect" | "protocol" | "timeout"; message: string; cause?: unknown };

/** Writes one request on `socket` and reads one response. Leaves the socket paused with no listeners of ours. */
export function exchange(
  socket: Socket,
  request: Buffer,
  opts: { headRequest: boolean; timeoutMs: number },
): Promise<ExchangeResult> {
  return new Promise((resolve) => {
    const parser = new ResponseParser(opts.headRequest);
    let connected = !socket.connecting;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    // Several signals can report one failure (write error, 'error', 'end', 'close'): the first one wins.
    const finish = (result: ExchangeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.off("connect", onConnect);
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.off("error", onError);
      socket.off("close", onClose);
      socket.pause();
      resolve(result);
    };
    const done = (response: ParsedResponse): void => {
      const reusable = response.keepAlive && parser.extraBytes === 0 && !socket.readableEnded;
      finish({ ok: true, response, reusable });
    };
    const reset = (message: string, cause?: unknown): void =>
      finish({ ok: false, reason: "reset", message, cause });

    const onConnect = (): void => {
      connected = true;
    };
    const onData = (chunk: Buffer): void => {
      try {
        const response = parser.push(chunk);
        if (response) done(response);
      } catch (err) {
        finish({ ok: false, reason: "protocol", message: (err as Error).message, cause: err });
      }
    };
    const onEnd = (): void => {
      const response = parser.end();
      if (response) done(response);
      else reset(parser.started ? "upstream closed mid-response" : "upstream closed before responding (EOF)");
    };
    const onError = (err: NodeJS.ErrnoException): void => {
      if (!connected) finish({ ok: false, reason: "connect", message: err.message, cause: err });
      else reset(`upstream ${err.code ?? err.message}`, err);
    };
    const onClose = (): void => reset("upstream connection closed");
    timer = setTimeout(
      () => finish({ ok: false, reason: "timeout", message: `no response within ${opts.timeoutMs} ms` }),
      opts.timeoutMs,
    );

    socket.on("connect", onConnect);
    socket.on("data", onData);
    socket.on("end", onEnd);
    socket.on("error", onError);
    socket.on("close", onClose);
    // Write first, then look: a pooled connection is only found dead once the request is already on the wire.
    socket.write(request, (err) => {
      if (err) return onError(err);
      // The upstream's FIN may have been consumed while the socket sat idle; its 'end' will not fire again.
      if (socket.readableEnded) onEnd();
      else if (socket.destroyed) onClose();
    });
    socket.resume();
  });
}
