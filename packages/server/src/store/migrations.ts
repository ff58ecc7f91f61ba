/**
 * The database schema as ordered migrations. Each runs once, in its own transaction, and is
 * recorded in schema_migrations; a database written by a newer server (a version this code does
 * not know) is refused rather than guessed at. Never edit a released migration: append one.
 *
 * Money is INTEGER minor units everywhere (never REAL). Tables are STRICT so that SQLite refuses
 * a value of the wrong type instead of converting it. Payments and publisher credits are
 * append-only, enforced by triggers: a publisher's balance is the sum of its credits, so there is
 * no single hot row that every payment would have to update.
 */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

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
];
