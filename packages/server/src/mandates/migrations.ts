/**
 * The tables of spending mandates (docs/protocol.md §16), as migration 6 of the store on both
 * engines: the mandates the users signed, each mandate's use per period (the row a payment under
 * it locks and updates in its own transaction), and which mandate paid which payment.
 */
/** A migration as the store's lists hold them (store/migrations.ts), written here without importing that list. */
interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

const VERSION = 6;
const NAME = "spending mandates for agents";

const tables = (integer: string, strict: string) => `
CREATE TABLE agent_mandates (
  id               TEXT PRIMARY KEY,
  user_id          TEXT NOT NULL REFERENCES users(id),
  agent_kid        TEXT NOT NULL,
  token            TEXT NOT NULL,
  claims           TEXT NOT NULL,
  currency         TEXT NOT NULL CHECK (length(currency) = 3),
  max_per_payment  ${integer} NOT NULL CHECK (max_per_payment > 0),
  budget           ${integer} NOT NULL CHECK (budget >= max_per_payment),
  max_payments     ${integer} NOT NULL CHECK (max_payments > 0),
  period           TEXT NOT NULL CHECK (period IN ('day', 'month', 'total')),
  expires_at       TEXT NOT NULL,
  registered_at    TEXT NOT NULL,
  revoked_at       TEXT
)${strict};
CREATE INDEX agent_mandates_by_user ON agent_mandates (user_id, registered_at);

CREATE TABLE agent_mandate_usage (
  mandate_id  TEXT NOT NULL REFERENCES agent_mandates(id),
  period_key  TEXT NOT NULL,
  spent       ${integer} NOT NULL CHECK (spent >= 0),
  payments    ${integer} NOT NULL CHECK (payments >= 0),
  PRIMARY KEY (mandate_id, period_key)
)${strict};

CREATE TABLE agent_mandate_payments (
  payment_id  TEXT PRIMARY KEY,
  mandate_id  TEXT NOT NULL REFERENCES agent_mandates(id),
  period_key  TEXT NOT NULL
)${strict};
CREATE INDEX agent_mandate_payments_by_mandate ON agent_mandate_payments (mandate_id);
`;

export const mandateMigrationSqlite: Migration = { version: VERSION, name: NAME, sql: tables("INTEGER", " STRICT") };
export const mandateMigrationPg: Migration = { version: VERSION, name: NAME, sql: tables("BIGINT", "") };

/**
 * Version 13: the user's payments under mandates as a feed with a stable cursor, and the counters'
 * pruning. Each link gets its user and a position in that user's feed (1, 2, … in commit order,
 * logic.ts), the links already there numbered in payment order; the counters get an index on
 * their period, which the pruning of ended periods reads by range.
 */
const feed = (integer: string) => `
ALTER TABLE agent_mandate_payments ADD COLUMN user_id TEXT REFERENCES users(id);
ALTER TABLE agent_mandate_payments ADD COLUMN position ${integer};
UPDATE agent_mandate_payments SET user_id = (SELECT m.user_id FROM agent_mandates m WHERE m.id = agent_mandate_payments.mandate_id);
UPDATE agent_mandate_payments SET position = (
  SELECT COUNT(*) FROM agent_mandate_payments q JOIN payments pq ON pq.id = q.payment_id
   WHERE q.user_id = agent_mandate_payments.user_id
     AND pq.seq <= (SELECT p.seq FROM payments p WHERE p.id = agent_mandate_payments.payment_id));
CREATE UNIQUE INDEX agent_mandate_payments_by_user ON agent_mandate_payments (user_id, position);
CREATE INDEX agent_mandate_usage_by_period ON agent_mandate_usage (period_key);
`;
const FEED_VERSION = 13;
const FEED_NAME = "mandate payments feed per user, mandate counters by period";

export const mandateFeedMigrationSqlite: Migration = { version: FEED_VERSION, name: FEED_NAME, sql: feed("INTEGER") };
export const mandateFeedMigrationPg: Migration = { version: FEED_VERSION, name: FEED_NAME, sql: feed("BIGINT") };
