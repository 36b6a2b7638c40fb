// Preloaded into an API process by a test (`node --import`): when the response to the request named by
// EBB_TEST_DIE_BEFORE_RESPONSE ("POST /api/v1/tokens") is about to be sent, the process kills itself with
// SIGKILL. The handler has returned by then, so the request's effect is committed and its answer never
// leaves: the crash the audit must survive. Test code only; never loaded by Ebb itself.
import http from "node:http";

const spec = process.env.EBB_TEST_DIE_BEFORE_RESPONSE;
if (spec) {
  const [method, path] = spec.split(" ");
  const end = http.ServerResponse.prototype.end;
  http.ServerResponse.prototype.end = function (...args) {
    const req = this.req;
    if (req?.method === method && (req.url ?? "").split("?")[0] === path) {
      process.kill(process.pid, "SIGKILL");
      // The signal is not always delivered before kill() returns: run nothing else meanwhile.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10_000);
    }
    return end.apply(this, args);
  };
}
