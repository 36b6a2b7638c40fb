import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * Webhook signatures, Stripe's scheme: `Ebb-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` over
 * `<t>.<body>` with the webhook's secret. The timestamp is signed so a receiver can refuse replays of an
 * old delivery (WEBHOOK_TOLERANCE_S); several `v1=` entries may appear while a secret is rotated.
 */
export const WEBHOOK_SIGNATURE_HEADER = "Ebb-Signature";
export const WEBHOOK_TOLERANCE_S = 300;

export function signWebhook(secret: string, body: string, unixSeconds: number): string {
  return `t=${unixSeconds},v1=${hmac(secret, unixSeconds, body)}`;
}

/** Why a signature header does not prove `body` came from the holder of `secret` now; undefined: it does. */
export function webhookSignatureProblem(
  secret: string,
  body: string,
  header: string | undefined,
  nowSeconds: number,
  toleranceS = WEBHOOK_TOLERANCE_S,
): string | undefined {
  if (header === undefined || header === "") return "no signature header";
  const parts = header.split(",").map((p) => p.trim().split("="));
  const t = Number(parts.find(([k]) => k === "t")?.[1]);
  if (!Number.isInteger(t)) return "no timestamp (t=)";
  if (Math.abs(nowSeconds - t) > toleranceS) return `timestamp ${t} is outside the tolerance`;
  const expected = Buffer.from(hmac(secret, t, body), "hex");
  const ok = parts
    .filter(([k]) => k === "v1")
    .some(([, v]) => {
      const given = Buffer.from(v ?? "", "hex");
      return given.length === expected.length && timingSafeEqual(given, expected);
    });
  return ok ? undefined : "no v1 signature matches";
}

function hmac(secret: string, t: number, body: string): string {
  return createHmac("sha256", secret).update(`${t}.${body}`).digest("hex");
}
