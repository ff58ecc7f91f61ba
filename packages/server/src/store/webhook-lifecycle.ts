/**
 * The webhook outbox's lifecycle operations (migration 12, webhook-lifecycle-migration.ts), beside
 * the delivery ones of webhook-logic.ts: the failures the operator is shown, deliveries put back
 * (redelivery), the pruning of what is done, and the endpoints' sealed secrets — rotated, and
 * re-sealed under the key ring's current key.
 */
import { all, get, run, type Logic } from "./operations/operation.js";
import { int } from "./operations/rows.js";
import { endpointOf, type StoredSecret, type WebhookEndpoint } from "./webhook-logic.js";

/** A delivery given up, as the operator sees it. */
export interface FailedDelivery {
  readonly eventId: string;
  readonly endpointId: string;
  readonly attempts: number;
  readonly lastError: string;
  readonly failedAt: string;
}

/** The latest deliveries given up, newest first, of one endpoint or all. */
export function* failedDeliveries(endpointId: string | undefined, limit: number): Logic<FailedDelivery[]> {
  const rows = yield* all(
    `SELECT event_id, endpoint_id, attempts, last_error, failed_at FROM webhook_deliveries
      WHERE failed_at IS NOT NULL ${endpointId === undefined ? "" : "AND endpoint_id = ?"}
      ORDER BY failed_at DESC, event_id LIMIT ?`,
    ...(endpointId === undefined ? [] : [endpointId]),
    limit,
  );
  return rows.map((row) => ({
    eventId: row["event_id"] as string,
    endpointId: row["endpoint_id"] as string,
    attempts: int(row["attempts"]),
    lastError: (row["last_error"] ?? "") as string,
    failedAt: row["failed_at"] as string,
  }));
}

export type RedeliverOutcome =
  | { readonly kind: "no-endpoint" }
  | { readonly kind: "no-delivery" }
  | { readonly kind: "queued"; readonly deliveries: number; readonly reenabled: boolean };

/**
 * Puts deliveries back, due at `now` with a new retry window: one event's (delivered or given up),
 * or every delivery of the endpoint given up. The endpoint, if it was disabled, is enabled again.
 */
export function* redeliver(endpointId: string, eventId: string | undefined, now: string): Logic<RedeliverOutcome> {
  const endpoint = yield* get("SELECT disabled_at FROM webhook_endpoints WHERE id = ?", endpointId);
  if (!endpoint) return { kind: "no-endpoint" };
  const reset = `UPDATE webhook_deliveries SET delivered_at = NULL, failed_at = NULL, last_error = NULL, attempts = 0,
                   next_attempt_at = ?, created_at = ? WHERE endpoint_id = ?`;
  const deliveries =
    eventId === undefined
      ? yield* run(`${reset} AND failed_at IS NOT NULL`, now, now, endpointId)
      : yield* run(`${reset} AND event_id = ?`, now, now, endpointId, eventId);
  if (eventId !== undefined && deliveries === 0) return { kind: "no-delivery" };
  const reenabled =
    endpoint["disabled_at"] !== null &&
    (yield* run("UPDATE webhook_endpoints SET disabled_at = NULL, disabled_reason = NULL WHERE id = ?", endpointId)) === 1;
  return { kind: "queued", deliveries, reenabled };
}

/**
 * Deletes up to `limit` deliveries delivered or given up before `cutoff`, then up to `limit` events
 * from before it that no delivery needs any more; returns how many rows went. Called in bounded
 * batches, each its own short transaction, so payments never wait long behind it.
 */
export function* pruneOutbox(cutoff: string, limit: number): Logic<number> {
  const done = yield* run(
    `DELETE FROM webhook_deliveries WHERE (event_id, endpoint_id) IN (
       SELECT event_id, endpoint_id FROM webhook_deliveries WHERE delivered_at < ?
       UNION ALL
       SELECT event_id, endpoint_id FROM webhook_deliveries WHERE failed_at < ?
       LIMIT ?)`,
    cutoff,
    cutoff,
    limit,
  );
  const events = yield* run(
    `DELETE FROM webhook_events WHERE id IN (
       SELECT id FROM webhook_events v WHERE fanned_out = 1 AND created_at < ?
          AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = v.id)
       LIMIT ?)`,
    cutoff,
    limit,
  );
  return done + events;
}

/**
 * Replaces an endpoint's secret with `secret`; the one it replaces keeps signing too until
 * `previousUntil`. Undefined when there is no such endpoint.
 */
export function* rotateSecret(
  endpointId: string,
  secret: StoredSecret,
  previousUntil: string,
): Logic<WebhookEndpoint | undefined> {
  const changed = yield* run(
    `UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_key_id = secret_key_id, previous_secret_until = ?,
            secret = ?, secret_key_id = ? WHERE id = ?`,
    previousUntil,
    secret.value,
    secret.keyId ?? null,
    endpointId,
  );
  if (changed !== 1) return undefined;
  return endpointOf((yield* get("SELECT * FROM webhook_endpoints WHERE id = ?", endpointId))!);
}

/** An endpoint's stored secrets, to seal again under the current key. */
export interface EndpointSecrets {
  readonly id: string;
  readonly secret: StoredSecret;
  readonly previous: StoredSecret | undefined;
}

/** The endpoints whose secret (or previous secret) is in clear or sealed under another key than `currentKeyId`. */
export function* secretsToReseal(currentKeyId: string): Logic<EndpointSecrets[]> {
  const rows = yield* all(
    `SELECT id, secret, secret_key_id, previous_secret, previous_secret_key_id FROM webhook_endpoints
      WHERE secret_key_id IS NULL OR secret_key_id <> ?
         OR (previous_secret IS NOT NULL AND (previous_secret_key_id IS NULL OR previous_secret_key_id <> ?))`,
    currentKeyId,
    currentKeyId,
  );
  const stored = (value: unknown, keyId: unknown): StoredSecret => ({
    value: value as string,
    keyId: (keyId ?? undefined) as string | undefined,
  });
  return rows.map((row) => ({
    id: row["id"] as string,
    secret: stored(row["secret"], row["secret_key_id"]),
    previous: row["previous_secret"] === null ? undefined : stored(row["previous_secret"], row["previous_secret_key_id"]),
  }));
}

/** Stores secrets sealed again, if the row still holds what was read (a rotation meanwhile wins). */
export function* putResealed(before: EndpointSecrets, after: Omit<EndpointSecrets, "id">): Logic<boolean> {
  return (
    (yield* run(
      `UPDATE webhook_endpoints SET secret = ?, secret_key_id = ?, previous_secret = ?, previous_secret_key_id = ?
        WHERE id = ? AND secret = ? AND COALESCE(previous_secret, '') = ?`,
      after.secret.value,
      after.secret.keyId ?? null,
      after.previous?.value ?? null,
      after.previous?.keyId ?? null,
      before.id,
      before.secret.value,
      before.previous?.value ?? "",
    )) === 1
  );
}
