/**
 * Migration 12 on both engines: the webhook outbox's lifecycle (docs/webhooks.md, "Delivery").
 *
 * - webhook_endpoints: the secret is sealed (webhooks/secret-box.ts) and secret_key_id names the
 *   key; NULL marks a secret still in clear from before this migration, sealed by the server when
 *   it starts. A rotated secret keeps signing beside the new one until previous_secret_until. An
 *   endpoint that failed continuously is disabled, with the time and the reason.
 * - webhook_deliveries: created_at starts the retry window; failed_at marks a delivery given up
 *   (dead): it is attempted no more until the operator puts it back (redeliver).
 * - Indexes let the pruning of delivered and dead rows, and of the events left without any
 *   delivery, read only what it deletes.
 */
export const WEBHOOK_LIFECYCLE_SQL = `
ALTER TABLE webhook_endpoints ADD COLUMN secret_key_id TEXT;
ALTER TABLE webhook_endpoints ADD COLUMN previous_secret TEXT;
ALTER TABLE webhook_endpoints ADD COLUMN previous_secret_key_id TEXT;
ALTER TABLE webhook_endpoints ADD COLUMN previous_secret_until TEXT;
ALTER TABLE webhook_endpoints ADD COLUMN disabled_at TEXT;
ALTER TABLE webhook_endpoints ADD COLUMN disabled_reason TEXT;
ALTER TABLE webhook_deliveries ADD COLUMN created_at TEXT NOT NULL DEFAULT '';
UPDATE webhook_deliveries SET created_at = next_attempt_at;
ALTER TABLE webhook_deliveries ADD COLUMN failed_at TEXT;
CREATE INDEX webhook_deliveries_failed ON webhook_deliveries (failed_at) WHERE failed_at IS NOT NULL;
CREATE INDEX webhook_deliveries_done ON webhook_deliveries (delivered_at) WHERE delivered_at IS NOT NULL;
CREATE INDEX webhook_events_done ON webhook_events (created_at) WHERE fanned_out = 1;
`;

export const WEBHOOK_LIFECYCLE = {
  version: 12,
  name: "webhook deliveries that give up, endpoints disabled, secrets sealed and rotated",
  sql: WEBHOOK_LIFECYCLE_SQL,
} as const;
