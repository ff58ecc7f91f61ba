/**
 * The PostgreSQL schema, as ordered migrations with the same version numbers as SQLite's
 * (migrations.ts): version N is the same tables, columns and rules on both engines. Money is
 * BIGINT minor units; the append-only rules are triggers, as on SQLite; positions (seq) are
 * identity columns. Never edit a released migration: append one.
 */
import { WEBHOOK_LIFECYCLE } from "./webhook-lifecycle-migration.js";
import { mandateFeedMigrationPg, mandateMigrationPg } from "../mandates/migrations.js";
import { LEDGER_BY_PERIOD_USER, LEDGER_BY_REF, ONCE_PER_PAYMENT_AND_REF, PAYOUT_ACCOUNTS, type Migration } from "./migrations.js";
import { OUTBOX_GATE_PG } from "./outbox-gate.js";
import { PAYMENT_FUNCTION_PG, PAYMENT_FUNCTION_ROW_CHECK_PG } from "./postgres-payments.js";
import { ORDERED_EVENT_IDS_PG } from "./event-ids-migration.js";
import { SELF_SERVICE_PG } from "./self-service-migration.js";

const appendOnly = (table: string, what: string) => `
CREATE TRIGGER ${table}_append_only BEFORE UPDATE OR DELETE ON ${table}
  FOR EACH ROW EXECUTE FUNCTION peage_refuse_change('${what}');`;

export const pgMigrations: readonly Migration[] = [
  {
    version: 1,
    name: "initial schema",
    sql: `
CREATE FUNCTION peage_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% are append-only', TG_ARGV[0] USING ERRCODE = 'restrict_violation';
END $$;

CREATE TABLE users (
  id                  TEXT PRIMARY KEY,
  public_key_jwk      TEXT NOT NULL,
  alg                 TEXT NOT NULL CHECK (alg IN ('ES256', 'EdDSA')),
  kid                 TEXT NOT NULL UNIQUE,
  mode                TEXT NOT NULL CHECK (mode IN ('prepaid', 'postpaid')),
  home_currency       TEXT NOT NULL CHECK (length(home_currency) = 3),
  balance_minor       BIGINT NOT NULL DEFAULT 0 CHECK (balance_minor >= 0),
  monthly_limit_minor BIGINT CHECK (monthly_limit_minor >= 0),
  status              TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
  created_at          TEXT NOT NULL,
  CHECK ((mode = 'postpaid') = (monthly_limit_minor IS NOT NULL)),
  CHECK (mode = 'prepaid' OR balance_minor = 0)
);

CREATE TABLE topups (
  id              TEXT PRIMARY KEY,
  user_id         TEXT NOT NULL REFERENCES users(id),
  amount_minor    BIGINT NOT NULL CHECK (amount_minor > 0),
  currency        TEXT NOT NULL CHECK (length(currency) = 3),
  idempotency_key TEXT NOT NULL UNIQUE,
  created_at      TEXT NOT NULL
);

CREATE TABLE payments (
  seq              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id               TEXT NOT NULL UNIQUE,
  user_id          TEXT NOT NULL REFERENCES users(id),
  publisher        TEXT NOT NULL,
  offer_hash       TEXT NOT NULL,
  price_amount     BIGINT NOT NULL CHECK (price_amount >= 0),
  price_currency   TEXT NOT NULL CHECK (length(price_currency) = 3),
  charged_amount   BIGINT NOT NULL CHECK (charged_amount >= 0),
  charged_currency TEXT NOT NULL CHECK (length(charged_currency) = 3),
  rate             TEXT NOT NULL,
  rate_date        TEXT,
  nonce            TEXT NOT NULL UNIQUE,
  offer_date       TEXT NOT NULL,
  server_time      TEXT NOT NULL,
  request_hash     TEXT NOT NULL,
  acknowledgment   TEXT NOT NULL
);
CREATE INDEX payments_by_user_time ON payments (user_id, server_time);
CREATE INDEX payments_by_user_seq ON payments (user_id, seq);
CREATE INDEX payments_by_publisher_seq ON payments (publisher, seq);
${appendOnly("payments", "payments")}

CREATE TABLE api_keys (
  id            TEXT PRIMARY KEY,
  secret_sha256 TEXT NOT NULL UNIQUE,
  scopes        TEXT NOT NULL,
  label         TEXT NOT NULL,
  created_at    TEXT NOT NULL
);

CREATE TABLE user_request_nonces (
  nonce      TEXT PRIMARY KEY,
  user_id    TEXT NOT NULL,
  expires_at TEXT NOT NULL
);
CREATE INDEX user_request_nonces_by_expiry ON user_request_nonces (expires_at);
`,
  },
  {
    version: 2,
    name: "double-entry ledger, periods, refunds, deposits, mandates, publishers, rates, settlements",
    sql: `
ALTER TABLE users ADD COLUMN deposit_required_minor BIGINT NOT NULL DEFAULT 0 CHECK (deposit_required_minor >= 0);
ALTER TABLE users ADD COLUMN deposit_minor BIGINT NOT NULL DEFAULT 0 CHECK (deposit_minor >= 0);
ALTER TABLE topups ADD COLUMN kind TEXT NOT NULL DEFAULT 'funds' CHECK (kind IN ('funds', 'deposit'));
ALTER TABLE payments ADD COLUMN fee_minor BIGINT NOT NULL DEFAULT 0 CHECK (fee_minor >= 0);

CREATE TABLE sepa_mandates (
  user_id    TEXT PRIMARY KEY REFERENCES users(id),
  mandate_id TEXT NOT NULL,
  signed_on  TEXT NOT NULL,
  name       TEXT NOT NULL,
  iban       TEXT NOT NULL,
  bic        TEXT
);

CREATE TABLE publishers (
  id         TEXT PRIMARY KEY,
  name       TEXT NOT NULL,
  country    TEXT NOT NULL CHECK (length(country) = 2),
  iban       TEXT,
  bic        TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);

CREATE TABLE closed_periods (
  period    TEXT PRIMARY KEY CHECK (length(period) = 7),
  closed_at TEXT NOT NULL,
  last_seq  BIGINT NOT NULL
);

CREATE TABLE ledger_transactions (
  seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id         TEXT NOT NULL UNIQUE,
  kind       TEXT NOT NULL CHECK (kind IN ('payment', 'refund', 'topup', 'deposit', 'collection', 'payout')),
  period     TEXT NOT NULL CHECK (length(period) = 7),
  created_at TEXT NOT NULL,
  user_id    TEXT,
  publisher  TEXT,
  payment_id TEXT REFERENCES payments(id),
  ref        TEXT
);
CREATE INDEX ledger_by_period ON ledger_transactions (period, seq);
CREATE INDEX ledger_by_user ON ledger_transactions (user_id, seq);
CREATE INDEX ledger_by_ref ON ledger_transactions (ref);
CREATE UNIQUE INDEX ledger_once_per_payment ON ledger_transactions (payment_id, kind) WHERE payment_id IS NOT NULL;

CREATE TABLE postings (
  seq      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  txn_seq  BIGINT NOT NULL REFERENCES ledger_transactions(seq),
  account  TEXT NOT NULL,
  currency TEXT NOT NULL CHECK (length(currency) = 3),
  amount   BIGINT NOT NULL CHECK (amount <> 0)
);
CREATE INDEX postings_by_txn ON postings (txn_seq);
CREATE INDEX postings_by_account ON postings (account, currency);

CREATE TABLE refunds (
  id         TEXT PRIMARY KEY,
  payment_id TEXT NOT NULL UNIQUE REFERENCES payments(id),
  reason     TEXT NOT NULL,
  created_at TEXT NOT NULL
);

CREATE TABLE fx_days (
  date        TEXT PRIMARY KEY CHECK (length(date) = 10),
  base        TEXT NOT NULL CHECK (length(base) = 3),
  source      TEXT NOT NULL,
  imported_at TEXT NOT NULL
);
CREATE TABLE fx_rates (
  date     TEXT NOT NULL REFERENCES fx_days(date) ON DELETE CASCADE,
  currency TEXT NOT NULL CHECK (length(currency) = 3),
  rate     TEXT NOT NULL,
  PRIMARY KEY (date, currency)
);

CREATE TABLE settlements (
  period          TEXT PRIMARY KEY REFERENCES closed_periods(period),
  created_at      TEXT NOT NULL,
  execution_date  TEXT NOT NULL,
  collection_date TEXT NOT NULL,
  details         TEXT NOT NULL
);
CREATE TABLE payouts (
  id           TEXT PRIMARY KEY,
  period       TEXT NOT NULL REFERENCES settlements(period),
  publisher    TEXT NOT NULL,
  currency     TEXT NOT NULL CHECK (length(currency) = 3),
  amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
  creditor     TEXT NOT NULL,
  sepa         INTEGER NOT NULL CHECK (sepa IN (0, 1)),
  UNIQUE (period, publisher, currency)
);
CREATE TABLE collections (
  id           TEXT PRIMARY KEY,
  period       TEXT NOT NULL REFERENCES settlements(period),
  user_id      TEXT NOT NULL REFERENCES users(id),
  currency     TEXT NOT NULL CHECK (length(currency) = 3),
  amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
  method       TEXT NOT NULL CHECK (method IN ('sepa-direct-debit', 'invoice')),
  mandate      TEXT,
  UNIQUE (period, user_id, currency)
);
${appendOnly("ledger_transactions", "ledger transactions")}
${appendOnly("postings", "postings")}
${appendOnly("refunds", "refunds")}
${appendOnly("payouts", "payouts")}
${appendOnly("collections", "collections")}
${appendOnly("settlements", "settlements")}
${appendOnly("closed_periods", "closed periods")}

CREATE VIEW publisher_balances AS
  SELECT substr(account, 9) AS publisher, currency, -SUM(amount) AS amount_minor, COUNT(*) AS postings
  FROM postings WHERE account LIKE 'payable/%' GROUP BY account, currency;
`,
  },
  {
    version: 3,
    name: "card float: the card-load transaction kind",
    sql: `
ALTER TABLE ledger_transactions DROP CONSTRAINT ledger_transactions_kind_check;
ALTER TABLE ledger_transactions ADD CONSTRAINT ledger_transactions_kind_check
  CHECK (kind IN ('payment', 'refund', 'topup', 'deposit', 'collection', 'payout', 'card-load'));
`,
  },
  {
    version: 4,
    name: "offer and request nonces unique per user",
    // Per user, not global: see migrations.ts, version 4. The constraint names are PostgreSQL's defaults.
    sql: `
ALTER TABLE payments DROP CONSTRAINT payments_nonce_key;
ALTER TABLE payments ADD CONSTRAINT payments_user_nonce_key UNIQUE (user_id, nonce);
ALTER TABLE user_request_nonces DROP CONSTRAINT user_request_nonces_pkey;
ALTER TABLE user_request_nonces ADD PRIMARY KEY (user_id, nonce);
`,
  },
  LEDGER_BY_REF,
  mandateMigrationPg,
  { version: 7, name: "publishers' self-service: publisher keys, sales feed, webhook outbox", sql: SELF_SERVICE_PG },
  LEDGER_BY_PERIOD_USER,
  {
    version: 9,
    name: "settlements of payments charged by use",
    // See migrations.ts, version 9.
    sql: `
CREATE TABLE usage_settlements (
  payment_id    TEXT PRIMARY KEY REFERENCES payments(id),
  id            TEXT NOT NULL UNIQUE,
  used_amount   BIGINT NOT NULL CHECK (used_amount >= 0),
  used_currency TEXT NOT NULL CHECK (length(used_currency) = 3),
  charged_used  BIGINT NOT NULL CHECK (charged_used >= 0),
  fee_used      BIGINT NOT NULL CHECK (fee_used >= 0),
  ticks         BIGINT CHECK (ticks >= 0),
  created_at    TEXT NOT NULL
);
${appendOnly("usage_settlements", "usage settlements")}
${ONCE_PER_PAYMENT_AND_REF}`,
  },
  PAYMENT_FUNCTION_PG,
  PAYOUT_ACCOUNTS,
  WEBHOOK_LIFECYCLE,
  mandateFeedMigrationPg,
  ORDERED_EVENT_IDS_PG,
  OUTBOX_GATE_PG,
  PAYMENT_FUNCTION_ROW_CHECK_PG,
];
