import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { signWebhook, webhookSignatureProblem } from "./signature.js";

describe("webhook signatures", () => {
  const body = '{"event":"rollout.failed"}';

  it("are HMAC-SHA256 over `<t>.<body>`, as a receiver recomputes them", () => {
    const header = signWebhook("s3cret", body, 1_700_000_000);
    const expected = createHmac("sha256", "s3cret").update(`1700000000.${body}`).digest("hex");
    expect(header).toBe(`t=1700000000,v1=${expected}`);
    expect(webhookSignatureProblem("s3cret", body, header, 1_700_000_010)).toBeUndefined();
  });

  it("refuse another secret, a changed body, an old timestamp, a missing header", () => {
    const header = signWebhook("s3cret", body, 1_700_000_000);
    expect(webhookSignatureProblem("other", body, header, 1_700_000_000)).toMatch(/no v1/);
    expect(webhookSignatureProblem("s3cret", `${body} `, header, 1_700_000_000)).toMatch(/no v1/);
    expect(webhookSignatureProblem("s3cret", body, header, 1_700_001_000)).toMatch(/tolerance/);
    expect(webhookSignatureProblem("s3cret", body, undefined, 1_700_000_000)).toMatch(/no signature/);
  });
});
