/**
 * The database schema as ordered migrations. Each runs once, in its own transaction, and is
 * recorded in schema_migrations; a database written by a newer server (a version this code does
 * not know) is refused rather than guessed at. Never edit a released migration: append one.
 *
 * Money is INTEGER minor units everywhere (never REAL). Tables are STRICT so that SQLite refuses
 * a value of the wrong type instead of converting it. Payments, ledger transactions and postings
 * are append-only, enforced by triggers: a publisher's balance is the sum of its postings, so there
 * is no single hot row that every payment would have to update. PostgreSQL has its own list
 * (pg-migrations.ts) with the same version numbers for the same schema.
 */
import { WEBHOOK_LIFECYCLE } from "./webhook-lifecycle-migration.js";
import { mandateFeedMigrationSqlite, mandateMigrationSqlite } from "../mandates/migrations.js";
import { OUTBOX_GATE_PG } from "./outbox-gate.js";
import { PAYMENT_FUNCTION_ROW_CHECK_PG } from "./postgres-payments.js";
import { SELF_SERVICE_SQLITE } from "./self-service-migration.js";
import { ORDERED_EVENT_IDS_SQLITE } from "./event-ids-migration.js";

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
  /**
   * SQLite: the migration rebuilds a table others refer to (the only way to change a CHECK), so it
   * runs with foreign keys off and is checked with foreign_key_check before it commits
   * (sqlite.org/lang_altertable.html#otheralter).
   */
  readonly rebuildsTables?: boolean;
}

/**
 * Version 9: settlements of payments charged by use (upto offers, metered sessions; docs/protocol.md
 * §3.12). The payment row keeps the maximum the user consented to; its settlement, once, the amount
 * used (and for a session the highest tick redeemed), and what of the charge and the fee that is.
 * Its return of the unused part is a second refund-kind transaction of the payment, named by its ref.
 */
/**
 * A payment's ledger transactions: one payment, and refunds each named by their ref (its refund,
 * or its usage settlement's return), each at most once per payment (refunds and usage_settlements
 * are keyed by payment too). Shared by both engines.
 */
export const ONCE_PER_PAYMENT_AND_REF = `
DROP INDEX ledger_once_per_payment;
CREATE UNIQUE INDEX ledger_once_per_payment ON ledger_transactions (payment_id, kind)
  WHERE payment_id IS NOT NULL AND kind <> 'refund';
CREATE UNIQUE INDEX ledger_refund_once_per_ref ON ledger_transactions (payment_id, ref)
  WHERE payment_id IS NOT NULL AND kind = 'refund';
`;
const SETTLEMENTS_SQLITE = `
CREATE TABLE usage_settlements (
  payment_id    TEXT PRIMARY KEY REFERENCES payments(id),
  id            TEXT NOT NULL UNIQUE,
  used_amount   INTEGER NOT NULL CHECK (used_amount >= 0),
  used_currency TEXT NOT NULL CHECK (length(used_currency) = 3),
  charged_used  INTEGER NOT NULL CHECK (charged_used >= 0),
  fee_used      INTEGER NOT NULL CHECK (fee_used >= 0),
  ticks         INTEGER CHECK (ticks >= 0),
  created_at    TEXT NOT NULL
) STRICT;
CREATE TRIGGER usage_settlements_append_only_update BEFORE UPDATE ON usage_settlements
  BEGIN SELECT RAISE(ABORT, 'usage settlements are append-only'); END;
CREATE TRIGGER usage_settlements_append_only_delete BEFORE DELETE ON usage_settlements
  BEGIN SELECT RAISE(ABORT, 'usage settlements are append-only'); END;
${ONCE_PER_PAYMENT_AND_REF}`;

/**
 * Version 4: a payment's offer nonce and a signed request's nonce are unique per user, not
 * across users: with one global list, anybody who saw another user's pending nonce could use it
 * first and make the owner's payment fail. The same user using a nonce twice is still refused.
 * SQLite cannot drop a UNIQUE column constraint, so the payments table is rebuilt, with its
 * indexes and append-only triggers.
 */
const NONCES_PER_USER_SQLITE = `
CREATE TABLE payments_v3 (
  seq              INTEGER PRIMARY KEY,
  id               TEXT NOT NULL UNIQUE,
  user_id          TEXT NOT NULL REFERENCES users(id),
  publisher        TEXT NOT NULL,
  offer_hash       TEXT NOT NULL,
  price_amount     INTEGER NOT NULL CHECK (price_amount >= 0),
  price_currency   TEXT NOT NULL CHECK (length(price_currency) = 3),
  charged_amount   INTEGER NOT NULL CHECK (charged_amount >= 0),
  charged_currency TEXT NOT NULL CHECK (length(charged_currency) = 3),
  rate             TEXT NOT NULL,
  rate_date        TEXT,
  nonce            TEXT NOT NULL,
  offer_date       TEXT NOT NULL,
  server_time      TEXT NOT NULL,
  request_hash     TEXT NOT NULL,
  acknowledgment   TEXT NOT NULL,
  fee_minor        INTEGER NOT NULL DEFAULT 0 CHECK (fee_minor >= 0),
  UNIQUE (user_id, nonce)
) STRICT;
INSERT INTO payments_v3 (seq, id, user_id, publisher, offer_hash, price_amount, price_currency, charged_amount, charged_currency,
    rate, rate_date, nonce, offer_date, server_time, request_hash, acknowledgment, fee_minor)
  SELECT seq, id, user_id, publisher, offer_hash, price_amount, price_currency, charged_amount, charged_currency,
    rate, rate_date, nonce, offer_date, server_time, request_hash, acknowledgment, fee_minor FROM payments;
DROP TABLE payments;
ALTER TABLE payments_v3 RENAME TO payments;
CREATE INDEX payments_by_user_time ON payments (user_id, server_time);
CREATE INDEX payments_by_user_seq ON payments (user_id, seq);
CREATE INDEX payments_by_publisher_seq ON payments (publisher, seq);
CREATE TRIGGER payments_append_only_update BEFORE UPDATE ON payments
  BEGIN SELECT RAISE(ABORT, 'payments are append-only'); END;
CREATE TRIGGER payments_append_only_delete BEFORE DELETE ON payments
  BEGIN SELECT RAISE(ABORT, 'payments are append-only'); END;

CREATE TABLE user_request_nonces_v3 (
  user_id    TEXT NOT NULL,
  nonce      TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  PRIMARY KEY (user_id, nonce)
) STRICT;
INSERT INTO user_request_nonces_v3 (user_id, nonce, expires_at) SELECT user_id, nonce, expires_at FROM user_request_nonces;
DROP TABLE user_request_nonces;
ALTER TABLE user_request_nonces_v3 RENAME TO user_request_nonces;
CREATE INDEX user_request_nonces_by_expiry ON user_request_nonces (expires_at);
`;

/**
 * Version 2: the double-entry ledger (docs/ledger.md). The publisher credits of version 1 become
 * postings: every payment and top-up already recorded is posted as its ledger transaction, in the
 * period of its time, so that an upgraded database balances like a new one.
 */
const LEDGER_SQLITE = `
ALTER TABLE users ADD COLUMN deposit_required_minor INTEGER NOT NULL DEFAULT 0 CHECK (deposit_required_minor >= 0);
ALTER TABLE users ADD COLUMN deposit_minor INTEGER NOT NULL DEFAULT 0 CHECK (deposit_minor >= 0);
ALTER TABLE topups ADD COLUMN kind TEXT NOT NULL DEFAULT 'funds' CHECK (kind IN ('funds', 'deposit'));
ALTER TABLE payments ADD COLUMN fee_minor INTEGER NOT NULL DEFAULT 0 CHECK (fee_minor >= 0);

CREATE TABLE sepa_mandates (
  user_id    TEXT PRIMARY KEY REFERENCES users(id),
  mandate_id TEXT NOT NULL,
  signed_on  TEXT NOT NULL,
  name       TEXT NOT NULL,
  iban       TEXT NOT NULL,
  bic        TEXT
) STRICT;

CREATE TABLE publishers (
  id         TEXT PRIMARY KEY,
  name       TEXT NOT NULL,
  country    TEXT NOT NULL CHECK (length(country) = 2),
  iban       TEXT,
  bic        TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE closed_periods (
  period    TEXT PRIMARY KEY CHECK (length(period) = 7),
  closed_at TEXT NOT NULL,
  last_seq  INTEGER NOT NULL
) STRICT;

CREATE TABLE ledger_transactions (
  seq        INTEGER PRIMARY KEY,
  id         TEXT NOT NULL UNIQUE,
  kind       TEXT NOT NULL CHECK (kind IN ('payment', 'refund', 'topup', 'deposit', 'collection', 'payout')),
  period     TEXT NOT NULL CHECK (length(period) = 7),
  created_at TEXT NOT NULL,
  user_id    TEXT,
  publisher  TEXT,
  payment_id TEXT REFERENCES payments(id),
  ref        TEXT
) STRICT;
CREATE INDEX ledger_by_period ON ledger_transactions (period, seq);
CREATE INDEX ledger_by_user ON ledger_transactions (user_id, seq);
-- One payment transaction and at most one refund per payment.
CREATE UNIQUE INDEX ledger_once_per_payment ON ledger_transactions (payment_id, kind) WHERE payment_id IS NOT NULL;

CREATE TABLE postings (
  seq      INTEGER PRIMARY KEY,
  txn_seq  INTEGER NOT NULL REFERENCES ledger_transactions(seq),
  account  TEXT NOT NULL,
  currency TEXT NOT NULL CHECK (length(currency) = 3),
  amount   INTEGER NOT NULL CHECK (amount <> 0)
) STRICT;
CREATE INDEX postings_by_txn ON postings (txn_seq);
CREATE INDEX postings_by_account ON postings (account, currency);

CREATE TABLE refunds (
  id         TEXT PRIMARY KEY,
  payment_id TEXT NOT NULL UNIQUE REFERENCES payments(id),
  reason     TEXT NOT NULL,
  created_at TEXT NOT NULL
) STRICT;

CREATE TABLE fx_days (
  date        TEXT PRIMARY KEY CHECK (length(date) = 10),
  base        TEXT NOT NULL CHECK (length(base) = 3),
  source      TEXT NOT NULL,
  imported_at TEXT NOT NULL
) STRICT;
CREATE TABLE fx_rates (
  date     TEXT NOT NULL REFERENCES fx_days(date) ON DELETE CASCADE,
  currency TEXT NOT NULL CHECK (length(currency) = 3),
  rate     TEXT NOT NULL,
  PRIMARY KEY (date, currency)
) STRICT;

CREATE TABLE settlements (
  period          TEXT PRIMARY KEY REFERENCES closed_periods(period),
  created_at      TEXT NOT NULL,
  execution_date  TEXT NOT NULL,
  collection_date TEXT NOT NULL,
  details         TEXT NOT NULL
) STRICT;
CREATE TABLE payouts (
  id           TEXT PRIMARY KEY,
  period       TEXT NOT NULL REFERENCES settlements(period),
  publisher    TEXT NOT NULL,
  currency     TEXT NOT NULL CHECK (length(currency) = 3),
  amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
  creditor     TEXT NOT NULL,
  sepa         INTEGER NOT NULL CHECK (sepa IN (0, 1)),
  UNIQUE (period, publisher, currency)
) STRICT;
CREATE TABLE collections (
  id           TEXT PRIMARY KEY,
  period       TEXT NOT NULL REFERENCES settlements(period),
  user_id      TEXT NOT NULL REFERENCES users(id),
  currency     TEXT NOT NULL CHECK (length(currency) = 3),
  amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
  method       TEXT NOT NULL CHECK (method IN ('sepa-direct-debit', 'invoice')),
  mandate      TEXT,
  UNIQUE (period, user_id, currency)
) STRICT;

CREATE TRIGGER ledger_transactions_append_only_update BEFORE UPDATE ON ledger_transactions BEGIN SELECT RAISE(ABORT, 'ledger transactions are append-only'); END;
CREATE TRIGGER ledger_transactions_append_only_delete BEFORE DELETE ON ledger_transactions BEGIN SELECT RAISE(ABORT, 'ledger transactions are append-only'); END;
CREATE TRIGGER postings_append_only_update BEFORE UPDATE ON postings BEGIN SELECT RAISE(ABORT, 'postings are append-only'); END;
CREATE TRIGGER postings_append_only_delete BEFORE DELETE ON postings BEGIN SELECT RAISE(ABORT, 'postings are append-only'); END;
CREATE TRIGGER refunds_append_only_update BEFORE UPDATE ON refunds BEGIN SELECT RAISE(ABORT, 'refunds are append-only'); END;
CREATE TRIGGER refunds_append_only_delete BEFORE DELETE ON refunds BEGIN SELECT RAISE(ABORT, 'refunds are append-only'); END;
CREATE TRIGGER payouts_append_only_update BEFORE UPDATE ON payouts BEGIN SELECT RAISE(ABORT, 'payouts are append-only'); END;
CREATE TRIGGER payouts_append_only_delete BEFORE DELETE ON payouts BEGIN SELECT RAISE(ABORT, 'payouts are append-only'); END;
CREATE TRIGGER collections_append_only_update BEFORE UPDATE ON collections BEGIN SELECT RAISE(ABORT, 'collections are append-only'); END;
CREATE TRIGGER collections_append_only_delete BEFORE DELETE ON collections BEGIN SELECT RAISE(ABORT, 'collections are append-only'); END;
CREATE TRIGGER settlements_append_only_update BEFORE UPDATE ON settlements BEGIN SELECT RAISE(ABORT, 'settlements are append-only'); END;
CREATE TRIGGER settlements_append_only_delete BEFORE DELETE ON settlements BEGIN SELECT RAISE(ABORT, 'settlements are append-only'); END;
CREATE TRIGGER closed_periods_final_update BEFORE UPDATE ON closed_periods BEGIN SELECT RAISE(ABORT, 'a closed period stays closed'); END;
CREATE TRIGGER closed_periods_final_delete BEFORE DELETE ON closed_periods BEGIN SELECT RAISE(ABORT, 'a closed period stays closed'); END;

-- Version 1's payments and top-ups, posted as they would have been.
INSERT INTO ledger_transactions (id, kind, period, created_at, user_id, publisher, payment_id)
  SELECT 'txn_' || id, 'payment', substr(server_time, 1, 7), server_time, user_id, publisher, id FROM payments ORDER BY seq;
INSERT INTO ledger_transactions (id, kind, period, created_at, user_id, ref)
  SELECT 'txn_' || id, 'topup', substr(created_at, 1, 7), created_at, user_id, id FROM topups ORDER BY rowid;
INSERT INTO postings (txn_seq, account, currency, amount)
  SELECT t.seq, CASE u.mode WHEN 'prepaid' THEN 'funds/' ELSE 'receivable/' END || p.user_id, p.charged_currency, p.charged_amount
  FROM payments p JOIN ledger_transactions t ON t.payment_id = p.id AND t.kind = 'payment' JOIN users u ON u.id = p.user_id
  WHERE p.charged_amount <> 0;
INSERT INTO postings (txn_seq, account, currency, amount)
  SELECT t.seq, 'server/fx', p.charged_currency, -p.charged_amount
  FROM payments p JOIN ledger_transactions t ON t.payment_id = p.id AND t.kind = 'payment'
  WHERE p.charged_currency <> p.price_currency AND p.charged_amount <> 0;
INSERT INTO postings (txn_seq, account, currency, amount)
  SELECT t.seq, 'server/fx', p.price_currency, p.price_amount
  FROM payments p JOIN ledger_transactions t ON t.payment_id = p.id AND t.kind = 'payment'
  WHERE p.charged_currency <> p.price_currency AND p.price_amount <> 0;
INSERT INTO postings (txn_seq, account, currency, amount)
  SELECT t.seq, 'payable/' || p.publisher, p.price_currency, -p.price_amount
  FROM payments p JOIN ledger_transactions t ON t.payment_id = p.id AND t.kind = 'payment'
  WHERE p.price_amount <> 0;
INSERT INTO postings (txn_seq, account, currency, amount)
  SELECT t.seq, 'server/bank', o.currency, o.amount_minor FROM topups o JOIN ledger_transactions t ON t.ref = o.id AND t.kind = 'topup';
INSERT INTO postings (txn_seq, account, currency, amount)
  SELECT t.seq, 'funds/' || o.user_id, o.currency, -o.amount_minor FROM topups o JOIN ledger_transactions t ON t.ref = o.id AND t.kind = 'topup';

-- The credits are now the publishers' payable postings.
DROP VIEW publisher_balances;
DROP TRIGGER publisher_credits_append_only_update;
DROP TRIGGER publisher_credits_append_only_delete;
DROP TABLE publisher_credits;
CREATE VIEW publisher_balances AS
  SELECT substr(account, 9) AS publisher, currency, -SUM(amount) AS amount_minor, COUNT(*) AS postings
  FROM postings WHERE account LIKE 'payable/%' GROUP BY account, currency;
`;

/**
 * Version 3: money loaded onto a prepaid user's card moves from `funds/<user>` to `float/<user>`
 * in a `card-load` transaction (docs/ledger.md). SQLite cannot widen a CHECK in place: the table
 * is rebuilt with the same columns, rows, indexes and triggers.
 */
const CARD_FLOAT_SQLITE = `
CREATE TABLE ledger_transactions_v3 (
  seq        INTEGER PRIMARY KEY,
  id         TEXT NOT NULL UNIQUE,
  kind       TEXT NOT NULL CHECK (kind IN ('payment', 'refund', 'topup', 'deposit', 'collection', 'payout', 'card-load')),
  period     TEXT NOT NULL CHECK (length(period) = 7),
  created_at TEXT NOT NULL,
  user_id    TEXT,
  publisher  TEXT,
  payment_id TEXT REFERENCES payments(id),
  ref        TEXT
) STRICT;
INSERT INTO ledger_transactions_v3 (seq, id, kind, period, created_at, user_id, publisher, payment_id, ref)
  SELECT seq, id, kind, period, created_at, user_id, publisher, payment_id, ref FROM ledger_transactions ORDER BY seq;
DROP TABLE ledger_transactions;
ALTER TABLE ledger_transactions_v3 RENAME TO ledger_transactions;
CREATE INDEX ledger_by_period ON ledger_transactions (period, seq);
CREATE INDEX ledger_by_user ON ledger_transactions (user_id, seq);
CREATE UNIQUE INDEX ledger_once_per_payment ON ledger_transactions (payment_id, kind) WHERE payment_id IS NOT NULL;
CREATE TRIGGER ledger_transactions_append_only_update BEFORE UPDATE ON ledger_transactions BEGIN SELECT RAISE(ABORT, 'ledger transactions are append-only'); END;
CREATE TRIGGER ledger_transactions_append_only_delete BEFORE DELETE ON ledger_transactions BEGIN SELECT RAISE(ABORT, 'ledger transactions are append-only'); END;
`;

/**
 * Version 5, the same on both engines: ledger transactions by ref (the top-up, card load or reload
 * they record), which the ledger audit joins on. PostgreSQL has had it since version 2; SQLite
 * lacked it, as the engines' schema comparison (test/schema-parity.test.ts) showed.
 */
export const LEDGER_BY_REF: Migration = {
  version: 5,
  name: "ledger transactions by ref",
  sql: "CREATE INDEX IF NOT EXISTS ledger_by_ref ON ledger_transactions (ref);",
};

/**
 * Version 8, the same on both engines: a period's transactions by user and position. Settlement
 * reads a closed period a page at a time in that order (store/period-sums.ts); this index seeks
 * each page, where without it every page would read and sort the whole period.
 */
export const LEDGER_BY_PERIOD_USER: Migration = {
  version: 8,
  name: "a period's transactions by user, for settlement's statement pages",
  sql: "CREATE INDEX IF NOT EXISTS ledger_by_period_user ON ledger_transactions (period, user_id, seq);",
};

/**
 * Version 11: publishers paid to a domestic account outside the IBAN registry (bank/domestic.ts,
 * as JSON, instead of an IBAN), or in a payout currency other than the ones they earned in; and
 * each payout's conversion (the rates and amounts it was made from, as JSON). The same on both engines.
 */
export const PAYOUT_ACCOUNTS: Migration = {
  version: 11,
  name: "publishers' domestic accounts and payout currency, payouts' conversions",
  sql: `
ALTER TABLE publishers ADD COLUMN domestic_account TEXT;
ALTER TABLE publishers ADD COLUMN payout_currency TEXT CHECK (payout_currency IS NULL OR length(payout_currency) = 3);
ALTER TABLE payouts ADD COLUMN conversion TEXT;
`,
};

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: "initial schema",
    sql: `
CREATE TABLE users (
  id                  TEXT PRIMARY KEY,
  public_key_jwk      TEXT NOT NULL,
  alg                 TEXT NOT NULL CHECK (alg IN ('ES256', 'EdDSA')),
  kid                 TEXT NOT NULL UNIQUE,
  mode                TEXT NOT NULL CHECK (mode IN ('prepaid', 'postpaid')),
  home_currency       TEXT NOT NULL CHECK (length(home_currency) = 3),
  balance_minor       INTEGER NOT NULL DEFAULT 0 CHECK (balance_minor >= 0),
  monthly_limit_minor INTEGER CHECK (monthly_limit_minor >= 0),
  status              TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
  created_at          TEXT NOT NULL,
  CHECK ((mode = 'postpaid') = (monthly_limit_minor IS NOT NULL)),
  CHECK (mode = 'prepaid' OR balance_minor = 0)
) STRICT;

CREATE TABLE topups (
  id              TEXT PRIMARY KEY,
  user_id         TEXT NOT NULL REFERENCES users(id),
  amount_minor    INTEGER NOT NULL CHECK (amount_minor > 0),
  currency        TEXT NOT NULL CHECK (length(currency) = 3),
  idempotency_key TEXT NOT NULL UNIQUE,
  created_at      TEXT NOT NULL
) STRICT;

CREATE TABLE payments (
  seq              INTEGER PRIMARY KEY,
  id               TEXT NOT NULL UNIQUE,
  user_id          TEXT NOT NULL REFERENCES users(id),
  publisher        TEXT NOT NULL,
  offer_hash       TEXT NOT NULL,
  price_amount     INTEGER NOT NULL CHECK (price_amount >= 0),
  price_currency   TEXT NOT NULL CHECK (length(price_currency) = 3),
  charged_amount   INTEGER NOT NULL CHECK (charged_amount >= 0),
  charged_currency TEXT NOT NULL CHECK (length(charged_currency) = 3),
  rate             TEXT NOT NULL,
  rate_date        TEXT,
  nonce            TEXT NOT NULL UNIQUE,
  offer_date       TEXT NOT NULL,
  server_time      TEXT NOT NULL,
  request_hash     TEXT NOT NULL,
  acknowledgment   TEXT NOT NULL
) STRICT;
CREATE INDEX payments_by_user_time ON payments (user_id, server_time);
CREATE INDEX payments_by_user_seq ON payments (user_id, seq);
CREATE INDEX payments_by_publisher_seq ON payments (publisher, seq);

CREATE TABLE publisher_credits (
  seq          INTEGER PRIMARY KEY,
  publisher    TEXT NOT NULL,
  currency     TEXT NOT NULL CHECK (length(currency) = 3),
  amount_minor INTEGER NOT NULL CHECK (amount_minor >= 0),
  payment_id   TEXT NOT NULL UNIQUE REFERENCES payments(id),
  created_at   TEXT NOT NULL
) STRICT;
CREATE INDEX publisher_credits_by_publisher ON publisher_credits (publisher, currency);

CREATE VIEW publisher_balances AS
  SELECT publisher, currency, SUM(amount_minor) AS amount_minor, COUNT(*) AS payments
  FROM publisher_credits GROUP BY publisher, currency;

CREATE TRIGGER payments_append_only_update BEFORE UPDATE ON payments
  BEGIN SELECT RAISE(ABORT, 'payments are append-only'); END;
CREATE TRIGGER payments_append_only_delete BEFORE DELETE ON payments
  BEGIN SELECT RAISE(ABORT, 'payments are append-only'); END;
CREATE TRIGGER publisher_credits_append_only_update BEFORE UPDATE ON publisher_credits
  BEGIN SELECT RAISE(ABORT, 'publisher credits are append-only'); END;
CREATE TRIGGER publisher_credits_append_only_delete BEFORE DELETE ON publisher_credits
  BEGIN SELECT RAISE(ABORT, 'publisher credits are append-only'); END;

CREATE TABLE api_keys (
  id            TEXT PRIMARY KEY,
  secret_sha256 TEXT NOT NULL UNIQUE,
  scopes        TEXT NOT NULL,
  label         TEXT NOT NULL,
  created_at    TEXT NOT NULL
) STRICT;

CREATE TABLE user_request_nonces (
  nonce      TEXT PRIMARY KEY,
  user_id    TEXT NOT NULL,
  expires_at TEXT NOT NULL
) STRICT;
CREATE INDEX user_request_nonces_by_expiry ON user_request_nonces (expires_at);
`,
  },
  {
    version: 2,
    name: "double-entry ledger, periods, refunds, deposits, mandates, publishers, rates, settlements",
    sql: LEDGER_SQLITE,
  },
  {
    version: 3,
    name: "card float: the card-load transaction kind",
    sql: CARD_FLOAT_SQLITE,
    rebuildsTables: true,
  },
  {
    version: 4,
    name: "offer and request nonces unique per user",
    sql: NONCES_PER_USER_SQLITE,
    rebuildsTables: true,
  },
  LEDGER_BY_REF,
  mandateMigrationSqlite,
  { version: 7, name: "publishers' self-service: publisher keys, sales feed, webhook outbox", sql: SELF_SERVICE_SQLITE },
  LEDGER_BY_PERIOD_USER,
  { version: 9, name: "settlements of payments charged by use", sql: SETTLEMENTS_SQLITE },
  // PostgreSQL's function that records payments in one call (postgres-payments.ts); SQLite records
  // them in its own process, where a statement costs no round trip: nothing to create.
  { version: 10, name: "payments recorded in one call", sql: "SELECT 1" },
  PAYOUT_ACCOUNTS,
  WEBHOOK_LIFECYCLE,
  mandateFeedMigrationSqlite,
  ORDERED_EVENT_IDS_SQLITE,
  // PostgreSQL's outbox gate (outbox-gate.ts); SQLite's outbox triggers stay unconditional: nothing to change.
  { version: OUTBOX_GATE_PG.version, name: OUTBOX_GATE_PG.name, sql: "SELECT 1" },
  // The PostgreSQL function's row check (postgres-payments.ts): SQLite runs the statements, which parse the row.
  { version: PAYMENT_FUNCTION_ROW_CHECK_PG.version, name: PAYMENT_FUNCTION_ROW_CHECK_PG.name, sql: "SELECT 1" },
];
