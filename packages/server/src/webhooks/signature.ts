/**
 * The webhook signature (docs/webhooks.md), the server's side: HMAC-SHA256, keyed with the
 * endpoint's secret, over `timestamp.id.body` — the Unix time of the attempt, the event's id and
 * the exact bytes of the body — sent as `Peage-Webhook-Signature: v1=<hex>`. The timestamp lets a
 * receiver refuse an old delivery replayed; the id, the same on every attempt of one event, lets
 * it recognise a delivery it already handled. @peage/merchant's verifyWebhook is the receiver's side.
 */
import { createHmac, randomBytes } from "node:crypto";

export const WEBHOOK_HEADERS = {
  id: "peage-webhook-id",
  timestamp: "peage-webhook-timestamp",
  signature: "peage-webhook-signature",
} as const;

/** A new endpoint secret: 256 random bits, shown once to the operator. */
export const newWebhookSecret = () => `whsec_${randomBytes(32).toString("base64url")}`;

/**
 * The headers of one delivery attempt at `timestamp` (Unix seconds): one `v1=` signature per
 * secret, comma separated — two while a rotated secret still signs beside its successor.
 */
export function signedHeaders(
  secrets: string | readonly string[],
  id: string,
  body: string,
  timestamp: number,
): Record<string, string> {
  const signatures = (typeof secrets === "string" ? [secrets] : secrets).map(
    (secret) => `v1=${createHmac("sha256", secret).update(`${timestamp}.${id}.${body}`, "utf8").digest("hex")}`,
  );
  return {
    [WEBHOOK_HEADERS.id]: id,
    [WEBHOOK_HEADERS.timestamp]: String(timestamp),
    [WEBHOOK_HEADERS.signature]: signatures.join(","),
  };
}
