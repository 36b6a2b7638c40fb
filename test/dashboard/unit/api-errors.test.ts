import { describe, expect, it } from "vitest";
import { ApiError, apiErrorFrom, describeError } from "../../../apps/dashboard/lib/api/errors.js";

describe("the API's error shape in the dashboard", () => {
  it("keeps code, message and request id of an error body", () => {
    const err = apiErrorFrom(
      409,
      "Conflict",
      JSON.stringify({
        error: { code: "target_leased", message: "vm1 is in rollout x", details: null, requestId: "r-1" },
      }),
    );
    expect(err).toBeInstanceOf(ApiError);
    expect([err.status, err.code, err.message, err.requestId]).toEqual([
      409,
      "target_leased",
      "vm1 is in rollout x",
      "r-1",
    ]);
    expect(describeError(err)).toBe("vm1 is in rollout x (request r-1)");
  });

  it("puts invalid_request problems next to their fields, the first message of a path winning", () => {
    const err = apiErrorFrom(
      400,
      "Bad Request",
      JSON.stringify({
        error: {
          code: "invalid_request",
          message: "version: must start with a letter or digit",
          details: [
            { path: "version", message: "must start with a letter or digit" },
            { path: "version", message: "second problem" },
            { path: ["params", "A"], message: "too long" },
            { path: "", message: "unknown field batchsize" },
            { nonsense: true },
          ],
          requestId: "r-2",
        },
      }),
    );
    expect(err.fieldErrors).toEqual({
      version: "must start with a letter or digit",
      "params.A": "too long",
      "": "unknown field batchsize",
    });
    expect(err.formMessage).toBe("unknown field batchsize");
  });

  it("says what came back when the body is not the API's shape", () => {
    const err = apiErrorFrom(502, "Bad Gateway", "<html>upstream down</html>");
    expect(err.code).toBe("http_502");
    expect(err.message).toBe("the API answered 502 Bad Gateway: <html>upstream down</html>");
    expect(err.fieldErrors).toEqual({});
    expect(apiErrorFrom(500, "Internal Server Error", "").message).toBe(
      "the API answered 500 Internal Server Error",
    );
  });

  it("describes a network failure as one", () => {
    expect(describeError(new TypeError("fetch failed"))).toBe(
      "cannot reach the dashboard server: fetch failed",
    );
  });
});
