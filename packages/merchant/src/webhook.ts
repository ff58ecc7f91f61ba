/**
 * Verifying the payment server's webhooks on the receiving side (docs/webhooks.md). A delivery
 * carries Peage-Webhook-Id, Peage-Webhook-Timestamp (Unix seconds) and Peage-Webhook-Signature
 * (`v1=<hex>`, possibly several, comma separated, while a secret is being replaced): the HMAC-SHA256,
 * keyed with the endpoint's secret, of `timestamp.id.body`. verifyWebhook refuses a forged or
 * altered delivery (no signature matches), a stale one (timestamp outside the tolerance) and,
 * given a ReplayGuard, the same delivery seen twice; it returns the event only when all pass.
 * Deliveries come at least once: an event id already handled is to be acknowledged and ignored.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

export const WebhookErrorCodes = [
  /** A header is missing or not in its format. */
  "ERR_WEBHOOK_MALFORMED",
  /** No signature matches: not sent by the server with this secret, or altered on the way. */
  "ERR_WEBHOOK_SIGNATURE",
  /** The timestamp is outside the tolerance: an old delivery replayed, or a clock far off. */
  "ERR_WEBHOOK_STALE",
  /** This delivery was verified before (ReplayGuard). */
  "ERR_WEBHOOK_REPLAYED",
] as const;
export type WebhookErrorCode = (typeof WebhookErrorCodes)[number];

export class WebhookError extends Error {
  override readonly name = "WebhookError";
  constructor(
    readonly code: WebhookErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export type WebhookEventType = "payment.succeeded" | "payment.refunded" | "payout.scheduled";

/** An event as the server sends it; `data` depends on `type` (docs/webhooks.md). */
export interface WebhookEvent {
  readonly id: string;
  readonly type: WebhookEventType;
  readonly created: string;
  readonly data: Readonly<Record<string, unknown>>;
}

/** Remembers verified deliveries for the tolerance window, to refuse one replayed within it. */
export class ReplayGuard {
  readonly #seen = new Map<string, number>();
  /** True the first time a delivery (event id and timestamp) is seen; expired entries are forgotten. */
  firstSight(key: string, expiresAtMs: number, nowMs: number): boolean {
    for (const [seen, expires] of this.#seen) if (expires < nowMs) this.#seen.delete(seen);
    if (this.#seen.has(key)) return false;
    this.#seen.set(key, expiresAtMs);
    return true;
  }
}

export interface VerifyWebhookOptions {
  /**
   * The endpoint's secret (whsec_…), as shown when it was registered; or, while a rotation's
   * overlap lasts (`peage admin webhook-rotate`), the old and the new: a delivery signed with
   * either is accepted.
   */
  readonly secret: string | readonly string[];
  /** How far the timestamp may be from now, seconds (default 300). */
  readonly toleranceSeconds?: number;
  /** Now, for tests (default the system clock). */
  readonly now?: Date;
  /** Refuses a delivery verified before within the tolerance. */
  readonly replays?: ReplayGuard;
}

const header = (headers: HeadersLike, name: string): string | undefined => {
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  const value = headers[name];
  return typeof value === "string" ? value : value === undefined ? undefined : value.join(",");
};

/** Fetch's Headers, or Node's IncomingHttpHeaders (lower-case names). */
export type HeadersLike = Headers | Readonly<Record<string, string | readonly string[] | undefined>>;

/** The event of a delivery, once its signature, timestamp and (with a guard) freshness are checked; throws WebhookError otherwise. */
export function verifyWebhook(headers: HeadersLike, body: string | Uint8Array, opts: VerifyWebhookOptions): WebhookEvent {
  const id = header(headers, "peage-webhook-id");
  const timestamp = header(headers, "peage-webhook-timestamp");
  const signatures = header(headers, "peage-webhook-signature");
  if (!id || !/^evt_[0-9a-f]{32}$/.test(id))
    throw new WebhookError("ERR_WEBHOOK_MALFORMED", "Peage-Webhook-Id is missing or not evt_…");
  if (!timestamp || !/^\d{1,12}$/.test(timestamp))
    throw new WebhookError("ERR_WEBHOOK_MALFORMED", "Peage-Webhook-Timestamp is missing or not Unix seconds");
  if (!signatures) throw new WebhookError("ERR_WEBHOOK_MALFORMED", "Peage-Webhook-Signature is missing");
  const text = typeof body === "string" ? body : Buffer.from(body).toString("utf8");
  const secrets = typeof opts.secret === "string" ? [opts.secret] : opts.secret;
  if (secrets.length === 0) throw new TypeError("verifyWebhook needs the endpoint's secret");
  const expected = secrets.map((secret) => createHmac("sha256", secret).update(`${timestamp}.${id}.${text}`, "utf8").digest());
  const matches = signatures
    .split(",")
    .map((part) => /^\s*v1=([0-9a-f]{64})\s*$/.exec(part)?.[1])
    .some((hex) => hex !== undefined && expected.some((mac) => timingSafeEqual(Buffer.from(hex, "hex"), mac)));
  if (!matches)
    throw new WebhookError(
      "ERR_WEBHOOK_SIGNATURE",
      "no v1 signature matches: check the endpoint's secret; the body must be the exact bytes received",
    );
  const nowMs = (opts.now ?? new Date()).getTime();
  const toleranceMs = (opts.toleranceSeconds ?? 300) * 1000;
  const sentMs = Number(timestamp) * 1000;
  if (Math.abs(nowMs - sentMs) > toleranceMs)
    throw new WebhookError(
      "ERR_WEBHOOK_STALE",
      `the delivery was signed at ${new Date(sentMs).toISOString()}, outside the tolerance`,
    );
  const event = JSON.parse(text) as WebhookEvent;
  if (event.id !== id) throw new WebhookError("ERR_WEBHOOK_MALFORMED", "the body's id is not the Peage-Webhook-Id signed");
  if (opts.replays && !opts.replays.firstSight(`${id} ${timestamp}`, sentMs + toleranceMs, nowMs))
    throw new WebhookError(
      "ERR_WEBHOOK_REPLAYED",
      `delivery ${id} at ${timestamp} was verified before: acknowledge it and do nothing`,
    );
  return event;
}
