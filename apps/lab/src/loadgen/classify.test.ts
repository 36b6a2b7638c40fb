import { describe, expect, it } from "vitest";
import { classifyError, classifyStatus, RequestTimeoutError } from "./classify.js";

const err = (code: string, message = code) => Object.assign(new Error(message), { code });

describe("classifyError", () => {
  it("maps each failure to its kind", () => {
    expect(classifyError(new RequestTimeoutError(10), "request")).toBe("timeout");
    expect(classifyError(err("ECONNREFUSED"), "request")).toBe("refused");
    expect(classifyError(err("ECONNRESET", "read ECONNRESET"), "request")).toBe("rst");
    expect(classifyError(err("ECONNRESET", "socket hang up"), "request")).toBe("rst");
    expect(classifyError(err("ECONNRESET", "read ECONNRESET"), "response")).toBe("rst");
    expect(classifyError(err("ECONNRESET", "aborted"), "response")).toBe("closed");
    expect(classifyError(err("EPIPE"), "request")).toBe("closed");
    expect(classifyError(err("ERR_STREAM_PREMATURE_CLOSE"), "response")).toBe("closed");
    expect(classifyError(err("HPE_INVALID_EOF_STATE"), "request")).toBe("closed");
  });

  it("never drops an unknown failure: it is other", () => {
    expect(classifyError(err("EHOSTUNREACH"), "request")).toBe("other");
    expect(classifyError(new Error("weird"), "request")).toBe("other");
    expect(classifyError("a string", "response")).toBe("other");
  });
});

describe("classifyStatus", () => {
  it("splits 4xx and 5xx, everything below 400 is fine", () => {
    expect(classifyStatus(200)).toBeNull();
    expect(classifyStatus(304)).toBeNull();
    expect(classifyStatus(404)).toBe("http4xx");
    expect(classifyStatus(499)).toBe("http4xx");
    expect(classifyStatus(500)).toBe("http5xx");
    expect(classifyStatus(503)).toBe("http5xx");
  });
});
