/**
 * Migration 5 on both engines: publishers' self-service and webhooks. Kept apart from the two
 * migration lists, which only name it, so that the schema of one feature reads in one place.
 *
 * - api_keys.publisher binds a key to one publisher: such a key reads that publisher's data only
 *   and is refused by every operator endpoint.
 * - sales_feed gives each payment a position in its publisher's feed. Positions are handed out by
 *   whoever reads the feed, under a lock on the publisher's sales_feed_heads row, to payments
 *   already committed: the positions visible at any moment are therefore always 1..n with no
 *   hole, and a payment committed late (with an earlier seq or server time than rows already
 *   read) gets the next position instead of one behind a cursor already handed out
 *   (publisher-logic.ts).
 * - webhook_events is the outbox: triggers write an event in the same transaction as the payment,
 *   the refund or the payout, so an event exists exactly when its cause was committed.
 *   webhook_deliveries holds, per event and endpoint, what the delivery worker still has to do.
 */

/** The event types, as sent in the webhook's body. */
export const WebhookEventTypes = ["payment.succeeded", "payment.refunded", "payout.scheduled"] as const;
export type WebhookEventType = (typeof WebhookEventTypes)[number];

const EVENT_TYPES = WebhookEventTypes.map((type) => `'${type}'`).join(", ");

const TABLES = (integer: string, strict: string) => `
ALTER TABLE api_keys ADD COLUMN publisher TEXT;

CREATE TABLE sales_feed_heads (
  publisher TEXT PRIMARY KEY,
  position  ${integer} NOT NULL CHECK (position >= 0)
)${strict};
CREATE TABLE sales_feed (
  publisher  TEXT NOT NULL,
  position   ${integer} NOT NULL CHECK (position > 0),
  payment_id TEXT NOT NULL UNIQUE REFERENCES payments(id),
  PRIMARY KEY (publisher, position)
)${strict};

CREATE TABLE webhook_endpoints (
  id         TEXT PRIMARY KEY,
  url        TEXT NOT NULL,
  secret     TEXT NOT NULL,
  publisher  TEXT,
  events     TEXT NOT NULL,
  label      TEXT NOT NULL,
  created_at TEXT NOT NULL
)${strict};
CREATE TABLE webhook_events (
  id          TEXT PRIMARY KEY,
  type        TEXT NOT NULL CHECK (type IN (${EVENT_TYPES})),
  ref         TEXT NOT NULL,
  publisher   TEXT,
  created_at  TEXT NOT NULL,
  fanned_out  ${integer} NOT NULL DEFAULT 0 CHECK (fanned_out IN (0, 1)),
  body        TEXT
)${strict};
-- Only the events still to fan out: a payment's own insert stays cheap (one row, two small indexes).
CREATE INDEX webhook_events_to_fan_out ON webhook_events (fanned_out) WHERE fanned_out = 0;
CREATE TABLE webhook_deliveries (
  event_id        TEXT NOT NULL REFERENCES webhook_events(id),
  endpoint_id     TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
  attempts        ${integer} NOT NULL DEFAULT 0,
  next_attempt_at TEXT NOT NULL,
  delivered_at    TEXT,
  last_error      TEXT,
  PRIMARY KEY (event_id, endpoint_id)
)${strict};
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (delivered_at, next_attempt_at);
`;

/**
 * The rows each trigger writes: (type, ref, publisher, created_at) of the new row. A refund's
 * publisher is its payment's, read when the event is fanned out: a trigger naming another table
 * would stop a migration that rebuilds that table on SQLite.
 */
export const EVENT_OF = {
  payments: `'payment.succeeded', NEW.id, NEW.publisher, NEW.server_time`,
  refunds: `'payment.refunded', NEW.id, NULL, NEW.created_at`,
  payouts: `'payout.scheduled', NEW.id, NEW.publisher, (SELECT created_at FROM settlements WHERE period = NEW.period)`,
} as const;

/** SQLite's outbox triggers, each writing its event with the id `id` (an SQL expression). */
export const sqliteOutboxTriggers = (id: string) =>
  Object.entries(EVENT_OF)
    .map(
      ([table, values]) => `
CREATE TRIGGER ${table}_outbox AFTER INSERT ON ${table} BEGIN
  INSERT INTO webhook_events (id, type, ref, publisher, created_at) VALUES (${id}, ${values});
END;`,
    )
    .join("\n");

export const SELF_SERVICE_SQLITE = TABLES("INTEGER", " STRICT") + sqliteOutboxTriggers("'evt_' || lower(hex(randomblob(16)))");

export const SELF_SERVICE_PG =
  TABLES("BIGINT", "") +
  Object.entries(EVENT_OF)
    .map(
      ([table, values]) => `
CREATE FUNCTION ${table}_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO webhook_events (id, type, ref, publisher, created_at)
    VALUES ('evt_' || replace(gen_random_uuid()::text, '-', ''), ${values});
  RETURN NULL;
END $$;
CREATE TRIGGER ${table}_outbox AFTER INSERT ON ${table} FOR EACH ROW EXECUTE FUNCTION ${table}_outbox();`,
    )
    .join("\n");
