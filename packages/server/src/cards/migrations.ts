/**
 * The card desk's tables (docs/card.md, "The issuing server's card desk"), as ordered migrations
 * for each engine, in the same database as the ledger but recorded in a table of their own,
 * `card_schema_migrations`: the ledger's migration list (store/migrations.ts) refuses versions it
 * does not know, so the two lists never mix. Never edit a released migration: append one.
 *
 * Money is integer minor units. A card's account names its user (whose ledger account the card's
 * payments are posted to), mode, currency, certificate chain, postpaid ceiling, deposit and the
 * last counter of its log the server recorded. Every log entry is kept once per (card, counter),
 * with the payment it became; the signed commands (SYNC, RELOAD) once per (card, seq).
 */
import type { Migration } from "../store/migrations.js";

const SQLITE_V1 = `
CREATE TABLE card_accounts (
  card           TEXT PRIMARY KEY,
  user_id        TEXT NOT NULL,
  mode           TEXT NOT NULL CHECK (mode IN ('prepaid', 'postpaid')),
  currency       TEXT NOT NULL CHECK (length(currency) = 3),
  chain          TEXT NOT NULL,
  ceiling_minor  INTEGER CHECK (ceiling_minor >= 0),
  deposit_minor  INTEGER NOT NULL DEFAULT 0 CHECK (deposit_minor >= 0),
  loaded_minor   INTEGER NOT NULL DEFAULT 0 CHECK (loaded_minor >= 0),
  synced_counter INTEGER NOT NULL DEFAULT 0 CHECK (synced_counter >= 0),
  card_seq       INTEGER NOT NULL DEFAULT 0 CHECK (card_seq >= 0),
  status         TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'blocked')),
  blocked_reason TEXT,
  created_at     TEXT NOT NULL,
  last_sync_at   TEXT,
  CHECK ((mode = 'postpaid') = (ceiling_minor IS NOT NULL))
) STRICT;
CREATE INDEX card_accounts_by_user ON card_accounts (user_id);

CREATE TABLE card_entries (
  card        TEXT NOT NULL REFERENCES card_accounts(card),
  counter     INTEGER NOT NULL CHECK (counter >= 1),
  payment_id  TEXT NOT NULL UNIQUE,
  publisher   TEXT NOT NULL,
  price_minor INTEGER NOT NULL CHECK (price_minor >= 0),
  currency    TEXT NOT NULL CHECK (length(currency) = 3),
  token       TEXT NOT NULL,
  booking     TEXT NOT NULL,
  recorded_at TEXT NOT NULL,
  PRIMARY KEY (card, counter)
) STRICT;
CREATE TRIGGER card_entries_append_only_update BEFORE UPDATE ON card_entries BEGIN SELECT RAISE(ABORT, 'card log entries are append-only'); END;
CREATE TRIGGER card_entries_append_only_delete BEFORE DELETE ON card_entries BEGIN SELECT RAISE(ABORT, 'card log entries are append-only'); END;

CREATE TABLE card_commands (
  card          TEXT NOT NULL REFERENCES card_accounts(card),
  seq           INTEGER NOT NULL CHECK (seq >= 0),
  kind          TEXT NOT NULL CHECK (kind IN ('sync', 'reload')),
  id            TEXT NOT NULL UNIQUE,
  token         TEXT NOT NULL,
  up_to         INTEGER,
  ceiling_minor INTEGER,
  amount_minor  INTEGER,
  created_at    TEXT NOT NULL,
  applied_at    TEXT,
  PRIMARY KEY (card, seq)
) STRICT;

CREATE TABLE card_reloads (
  id              TEXT PRIMARY KEY,
  card            TEXT NOT NULL REFERENCES card_accounts(card),
  amount_minor    INTEGER NOT NULL CHECK (amount_minor > 0),
  currency        TEXT NOT NULL CHECK (length(currency) = 3),
  idempotency_key TEXT NOT NULL UNIQUE,
  created_at      TEXT NOT NULL,
  command_seq     INTEGER,
  applied_at      TEXT
) STRICT;

CREATE TABLE card_challenges (
  challenge  TEXT PRIMARY KEY,
  card       TEXT NOT NULL REFERENCES card_accounts(card),
  expires_at TEXT NOT NULL
) STRICT;

CREATE TABLE card_incidents (
  id         INTEGER PRIMARY KEY,
  card       TEXT NOT NULL,
  kind       TEXT NOT NULL,
  detail     TEXT NOT NULL,
  created_at TEXT NOT NULL
) STRICT;
CREATE INDEX card_incidents_by_card ON card_incidents (card, id);
`;

const POSTGRES_V1 = `
CREATE TABLE card_accounts (
  card           TEXT PRIMARY KEY,
  user_id        TEXT NOT NULL,
  mode           TEXT NOT NULL CHECK (mode IN ('prepaid', 'postpaid')),
  currency       TEXT NOT NULL CHECK (length(currency) = 3),
  chain          TEXT NOT NULL,
  ceiling_minor  BIGINT CHECK (ceiling_minor >= 0),
  deposit_minor  BIGINT NOT NULL DEFAULT 0 CHECK (deposit_minor >= 0),
  loaded_minor   BIGINT NOT NULL DEFAULT 0 CHECK (loaded_minor >= 0),
  synced_counter BIGINT NOT NULL DEFAULT 0 CHECK (synced_counter >= 0),
  card_seq       BIGINT NOT NULL DEFAULT 0 CHECK (card_seq >= 0),
  status         TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'blocked')),
  blocked_reason TEXT,
  created_at     TEXT NOT NULL,
  last_sync_at   TEXT,
  CHECK ((mode = 'postpaid') = (ceiling_minor IS NOT NULL))
);
CREATE INDEX card_accounts_by_user ON card_accounts (user_id);

CREATE TABLE card_entries (
  card        TEXT NOT NULL REFERENCES card_accounts(card),
  counter     BIGINT NOT NULL CHECK (counter >= 1),
  payment_id  TEXT NOT NULL UNIQUE,
  publisher   TEXT NOT NULL,
  price_minor BIGINT NOT NULL CHECK (price_minor >= 0),
  currency    TEXT NOT NULL CHECK (length(currency) = 3),
  token       TEXT NOT NULL,
  booking     TEXT NOT NULL,
  recorded_at TEXT NOT NULL,
  PRIMARY KEY (card, counter)
);
CREATE FUNCTION card_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'card log entries are append-only'; END $$;
CREATE TRIGGER card_entries_append_only BEFORE UPDATE OR DELETE ON card_entries FOR EACH ROW EXECUTE FUNCTION card_entries_append_only();

CREATE TABLE card_commands (
  card          TEXT NOT NULL REFERENCES card_accounts(card),
  seq           BIGINT NOT NULL CHECK (seq >= 0),
  kind          TEXT NOT NULL CHECK (kind IN ('sync', 'reload')),
  id            TEXT NOT NULL UNIQUE,
  token         TEXT NOT NULL,
  up_to         BIGINT,
  ceiling_minor BIGINT,
  amount_minor  BIGINT,
  created_at    TEXT NOT NULL,
  applied_at    TEXT,
  PRIMARY KEY (card, seq)
);

CREATE TABLE card_reloads (
  id              TEXT PRIMARY KEY,
  card            TEXT NOT NULL REFERENCES card_accounts(card),
  amount_minor    BIGINT NOT NULL CHECK (amount_minor > 0),
  currency        TEXT NOT NULL CHECK (length(currency) = 3),
  idempotency_key TEXT NOT NULL UNIQUE,
  created_at      TEXT NOT NULL,
  command_seq     BIGINT,
  applied_at      TEXT
);

CREATE TABLE card_challenges (
  challenge  TEXT PRIMARY KEY,
  card       TEXT NOT NULL REFERENCES card_accounts(card),
  expires_at TEXT NOT NULL
);

CREATE TABLE card_incidents (
  id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  card       TEXT NOT NULL,
  kind       TEXT NOT NULL,
  detail     TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX card_incidents_by_card ON card_incidents (card, id);
`;

/** The card desk's migrations on SQLite (recorded in card_schema_migrations). */
export const cardMigrations: readonly Migration[] = [
  { version: 1, name: "card accounts, log entries, issuer commands, reloads, challenges, incidents", sql: SQLITE_V1 },
];

/** The same versions on PostgreSQL. */
export const cardPgMigrations: readonly Migration[] = [
  { version: 1, name: "card accounts, log entries, issuer commands, reloads, challenges, incidents", sql: POSTGRES_V1 },
];

/** Where the versions applied are recorded: a table of the card desk's own. */
export const CARD_MIGRATIONS_TABLE = "card_schema_migrations";
