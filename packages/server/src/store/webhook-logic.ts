/**
 * The webhook outbox's operations (self-service-migration.ts has the tables), run by
 * Store.runLogic on either engine. Triggers write an event with its cause; fanOut gives each new
 * event its body and one delivery per endpoint that wants it; claimDue takes due deliveries for a
 * lease, so that two server processes never send the same attempt, and a process killed while
 * sending leaves its deliveries to be taken again when the lease ends: at least once, never lost.
 * settleDelivery records an attempt: delivered, due again, or given up once the retry window is
 * over, disabling an endpoint that failed throughout it (migration 12: webhook-lifecycle-migration.ts;
 * redelivery, pruning and the sealed secrets' operations are in webhook-lifecycle.ts).
 */
import type { PartyId } from "@peage/protocol";
import { all, get, run, type Logic, type Row } from "./operations/operation.js";
import { int } from "./operations/rows.js";
import type { WebhookEventType } from "./self-service-migration.js";

export interface WebhookEndpoint {
  readonly id: string;
  readonly url: string;
  /** Operator endpoints (no publisher) receive every publisher's events. */
  readonly publisher: PartyId<"publisher"> | undefined;
  readonly events: readonly WebhookEventType[];
  readonly label: string;
  readonly createdAt: string;
  /** Set when the endpoint was disabled after failing continuously (webhook-lifecycle.ts). */
  readonly disabled?: { readonly at: string; readonly reason: string };
  /** Until when the secret replaced by the last rotation still signs too. */
  readonly previousSecretUntil?: string;
}

/** A secret as stored: sealed under the key `keyId`, or in clear (keyId undefined) from before migration 12. */
export interface StoredSecret {
  readonly keyId: string | undefined;
  readonly value: string;
}

/** One delivery to attempt: what to send, where, with which secret. */
export interface DueDelivery {
  readonly eventId: string;
  readonly endpointId: string;
  readonly url: string;
  /** The endpoint's secret, and the one a rotation replaced while it still signs. */
  readonly secrets: readonly StoredSecret[];
  readonly body: string;
  /** Attempts made before this one. */
  readonly attempts: number;
  /** When the delivery was first due: its retry window starts there. */
  readonly createdAt: string;
}

export const endpointOf = (row: Row): WebhookEndpoint => ({
  id: row["id"] as string,
  url: row["url"] as string,
  publisher: (row["publisher"] ?? undefined) as PartyId<"publisher"> | undefined,
  events: (row["events"] as string).split(" ") as WebhookEventType[],
  label: row["label"] as string,
  createdAt: row["created_at"] as string,
  ...(row["disabled_at"] ? { disabled: { at: row["disabled_at"] as string, reason: row["disabled_reason"] as string } } : {}),
  ...(row["previous_secret_until"] ? { previousSecretUntil: row["previous_secret_until"] as string } : {}),
});

/** Registers an endpoint with its secret sealed (webhooks/secret-box.ts). */
export function* addEndpoint(endpoint: WebhookEndpoint, secret: StoredSecret): Logic<void> {
  yield* run(
    `INSERT INTO webhook_endpoints (id, url, secret, secret_key_id, publisher, events, label, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    endpoint.id,
    endpoint.url,
    secret.value,
    secret.keyId ?? null,
    endpoint.publisher ?? null,
    endpoint.events.join(" "),
    endpoint.label,
    endpoint.createdAt,
  );
}

export function* listEndpoints(): Logic<WebhookEndpoint[]> {
  return (yield* all("SELECT * FROM webhook_endpoints ORDER BY created_at, id")).map(endpointOf);
}

/** Removes an endpoint and the deliveries still owed to it; false if there was none. */
export function* removeEndpoint(id: string): Logic<boolean> {
  yield* run("DELETE FROM webhook_deliveries WHERE endpoint_id = ?", id);
  return (yield* run("DELETE FROM webhook_endpoints WHERE id = ?", id)) === 1;
}

/** Builds the body of a new event from the rows it is about (never changed afterwards: they are append-only). */
function* eventData(type: WebhookEventType, ref: string): Logic<Record<string, unknown>> {
  if (type === "payment.succeeded") {
    const p = (yield* get("SELECT * FROM payments WHERE id = ?", ref))!;
    return {
      paymentId: p["id"],
      publisher: p["publisher"],
      offerHash: p["offer_hash"],
      price: { amount: int(p["price_amount"]), currency: p["price_currency"] },
      nonce: p["nonce"],
      offerDate: p["offer_date"],
      serverTime: p["server_time"],
    };
  }
  if (type === "payment.refunded") {
    const r = (yield* get(
      `SELECT r.id, r.payment_id, r.reason, r.created_at, p.publisher, p.price_amount, p.price_currency
         FROM refunds r JOIN payments p ON p.id = r.payment_id WHERE r.id = ?`,
      ref,
    ))!;
    return {
      refundId: r["id"],
      paymentId: r["payment_id"],
      publisher: r["publisher"],
      price: { amount: int(r["price_amount"]), currency: r["price_currency"] },
      reason: r["reason"],
      createdAt: r["created_at"],
    };
  }
  const o = (yield* get(
    "SELECT o.*, s.execution_date FROM payouts o JOIN settlements s ON s.period = o.period WHERE o.id = ?",
    ref,
  ))!;
  return {
    payoutId: o["id"],
    period: o["period"],
    publisher: o["publisher"],
    amount: { amount: int(o["amount_minor"]), currency: o["currency"] },
    executionDate: o["execution_date"],
    sepa: int(o["sepa"]) === 1,
    // A payout in the publisher's payout currency says what it was converted from, as the API does.
    ...(o["conversion"] == null ? {} : { conversion: JSON.parse(o["conversion"] as string) as unknown }),
  };
}

/** Gives up to `limit` new events their body and a delivery per endpoint subscribed; returns how many. */
export function* fanOut(now: string, limit: number): Logic<number> {
  const events = yield* all("SELECT id, type, ref, created_at FROM webhook_events WHERE fanned_out = 0 LIMIT ?", limit);
  if (events.length === 0) return 0;
  const endpoints = yield* listEndpoints();
  // Events nobody wants (no endpoint, the usual case) are closed in one statement and keep no body.
  const unwanted: unknown[] = [];
  for (const event of events) {
    const type = event["type"] as WebhookEventType;
    const typed = endpoints.filter((endpoint) => endpoint.events.includes(type));
    const data = typed.length === 0 ? undefined : yield* eventData(type, event["ref"] as string);
    const wanted = typed.filter((endpoint) => endpoint.publisher === undefined || endpoint.publisher === data?.["publisher"]);
    if (wanted.length === 0) {
      unwanted.push(event["id"]);
      continue;
    }
    const body = JSON.stringify({ id: event["id"], type, created: event["created_at"], data });
    // Another process may have fanned it out meanwhile: its deliveries exist then.
    if (
      (yield* run("UPDATE webhook_events SET fanned_out = 1, body = ? WHERE id = ? AND fanned_out = 0", body, event["id"])) !== 1
    )
      continue;
    // A disabled endpoint's deliveries are written failed: redelivery puts them back with the rest.
    for (const endpoint of wanted)
      yield* run(
        `INSERT INTO webhook_deliveries (event_id, endpoint_id, next_attempt_at, created_at, failed_at, last_error)
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
        event["id"],
        endpoint.id,
        endpoint.disabled ? NEVER : now,
        now,
        endpoint.disabled ? now : null,
        endpoint.disabled ? `endpoint disabled: ${endpoint.disabled.reason}`.slice(0, 500) : null,
      );
  }
  if (unwanted.length > 0)
    yield* run(`UPDATE webhook_events SET fanned_out = 1 WHERE id IN (${unwanted.map(() => "?").join(", ")})`, ...unwanted);
  return events.length;
}

/** The next attempt of a delivery given up: later than any due time, so that it leaves the due index. */
export const NEVER = "9999-12-31T00:00:00.000Z";

/** Takes up to `limit` deliveries due at `now` for a lease until `leaseUntil`, counting the attempt. */
export function* claimDue(now: string, leaseUntil: string, limit: number): Logic<DueDelivery[]> {
  const rows = yield* all(
    `SELECT d.event_id, d.endpoint_id, d.attempts, d.next_attempt_at, d.created_at AS delivery_created, e.url, e.secret,
            e.secret_key_id, CASE WHEN e.previous_secret_until > ? THEN e.previous_secret END AS previous_secret,
            e.previous_secret_key_id, v.body
       FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id JOIN webhook_events v ON v.id = d.event_id
      WHERE d.delivered_at IS NULL AND d.next_attempt_at <= ? AND d.failed_at IS NULL AND e.disabled_at IS NULL
      ORDER BY d.next_attempt_at LIMIT ?`,
    now,
    now,
    limit,
  );
  const claimed: DueDelivery[] = [];
  for (const row of rows) {
    // Taken only if nobody took it since it was read (another process on the same database).
    const took = yield* run(
      `UPDATE webhook_deliveries SET next_attempt_at = ?, attempts = attempts + 1
        WHERE event_id = ? AND endpoint_id = ? AND next_attempt_at = ? AND delivered_at IS NULL AND failed_at IS NULL`,
      leaseUntil,
      row["event_id"],
      row["endpoint_id"],
      row["next_attempt_at"],
    );
    if (took !== 1) continue;
    const secret = (value: unknown, keyId: unknown): StoredSecret => ({
      value: value as string,
      keyId: (keyId ?? undefined) as string | undefined,
    });
    claimed.push({
      eventId: row["event_id"] as string,
      endpointId: row["endpoint_id"] as string,
      url: row["url"] as string,
      secrets: [
        secret(row["secret"], row["secret_key_id"]),
        ...(row["previous_secret"] ? [secret(row["previous_secret"], row["previous_secret_key_id"])] : []),
      ],
      body: row["body"] as string,
      attempts: int(row["attempts"]),
      createdAt: (row["delivery_created"] as string) || now,
    });
  }
  return claimed;
}

/** An attempt's outcome: delivered; failed, to try again at retryAt; or failed for good (given up at failedAt). */
export type DeliveryOutcome =
  | { readonly deliveredAt: string }
  | { readonly error: string; readonly retryAt: string }
  | { readonly error: string; readonly failedAt: string; readonly disableAfterFailing: boolean };

/**
 * Records an attempt's outcome. A delivery given up also disables its endpoint when asked and
 * when no delivery to the endpoint succeeded since this one was created: it failed continuously
 * for the whole retry window. The endpoint's deliveries still pending are then given up with it.
 */
export function* settleDelivery(delivery: Pick<DueDelivery, "eventId" | "endpointId">, outcome: DeliveryOutcome): Logic<void> {
  const { eventId, endpointId } = delivery;
  if ("deliveredAt" in outcome) {
    yield* run(
      "UPDATE webhook_deliveries SET delivered_at = ?, last_error = NULL WHERE event_id = ? AND endpoint_id = ? AND failed_at IS NULL",
      outcome.deliveredAt,
      eventId,
      endpointId,
    );
    return;
  }
  const error = outcome.error.slice(0, 500);
  if ("retryAt" in outcome) {
    yield* run(
      `UPDATE webhook_deliveries SET next_attempt_at = ?, last_error = ?
        WHERE event_id = ? AND endpoint_id = ? AND delivered_at IS NULL AND failed_at IS NULL`,
      outcome.retryAt,
      error,
      eventId,
      endpointId,
    );
    return;
  }
  const gaveUp = yield* run(
    `UPDATE webhook_deliveries SET failed_at = ?, next_attempt_at = ?, last_error = ?
      WHERE event_id = ? AND endpoint_id = ? AND delivered_at IS NULL AND failed_at IS NULL`,
    outcome.failedAt,
    NEVER,
    error,
    eventId,
    endpointId,
  );
  if (gaveUp !== 1 || !outcome.disableAfterFailing) return;
  const since = (yield* get(
    "SELECT created_at FROM webhook_deliveries WHERE event_id = ? AND endpoint_id = ?",
    eventId,
    endpointId,
  ))!;
  const succeeded = yield* get(
    "SELECT 1 AS ok FROM webhook_deliveries WHERE endpoint_id = ? AND delivered_at >= ? LIMIT 1",
    endpointId,
    since["created_at"],
  );
  if (succeeded) return;
  const reason = `no delivery succeeded since ${since["created_at"] as string}; last error: ${error}`.slice(0, 500);
  yield* run(
    "UPDATE webhook_endpoints SET disabled_at = ?, disabled_reason = ? WHERE id = ? AND disabled_at IS NULL",
    outcome.failedAt,
    reason,
    endpointId,
  );
  yield* run(
    `UPDATE webhook_deliveries SET failed_at = ?, next_attempt_at = ?, last_error = ?
      WHERE endpoint_id = ? AND delivered_at IS NULL AND failed_at IS NULL`,
    outcome.failedAt,
    NEVER,
    `endpoint disabled: ${reason}`.slice(0, 500),
    endpointId,
  );
}

/** Deliveries per state, for the operator's list and the tests. */
export function* deliveryCounts(): Logic<{ pending: number; delivered: number; failed: number }> {
  const row = (yield* get(
    `SELECT COUNT(*) - COUNT(delivered_at) - COUNT(failed_at) AS pending, COUNT(delivered_at) AS delivered,
            COUNT(failed_at) AS failed FROM webhook_deliveries`,
  ))!;
  return { pending: int(row["pending"]), delivered: int(row["delivered"]), failed: int(row["failed"]) };
}
