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
import { DIALECTS, type Dialect, type Schema } from "../store/driver.js";
import type { Migration } from "../store/migrations.js";

/** Version 1, written once: the dialect gives each engine its integer width, STRICT tables and generated keys. */
const v1 = (d: Dialect) => `
CREATE TABLE card_accounts (
  card           TEXT PRIMARY KEY,
  user_id        TEXT NOT NULL,
  mode           TEXT NOT NULL CHECK (mode IN ('prepaid', 'postpaid')),
  currency       TEXT NOT NULL CHECK (length(currency) = 3),
  chain          TEXT NOT NULL,
  ceiling_minor  ${d.int} CHECK (ceiling_minor >= 0),
  deposit_minor  ${d.int} NOT NULL DEFAULT 0 CHECK (deposit_minor >= 0),
  loaded_minor   ${d.int} NOT NULL DEFAULT 0 CHECK (loaded_minor >= 0),
  synced_counter ${d.int} NOT NULL DEFAULT 0 CHECK (synced_counter >= 0),
  card_seq       ${d.int} NOT NULL DEFAULT 0 CHECK (card_seq >= 0),
  status         TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'blocked')),
  blocked_reason TEXT,
  created_at     TEXT NOT NULL,
  last_sync_at   TEXT,
  CHECK ((mode = 'postpaid') = (ceiling_minor IS NOT NULL))
)${d.strict};
CREATE INDEX card_accounts_by_user ON card_accounts (user_id);

CREATE TABLE card_entries (
  card        TEXT NOT NULL REFERENCES card_accounts(card),
  counter     ${d.int} NOT NULL CHECK (counter >= 1),
  payment_id  TEXT NOT NULL UNIQUE,
  publisher   TEXT NOT NULL,
  price_minor ${d.int} NOT NULL CHECK (price_minor >= 0),
  currency    TEXT NOT NULL CHECK (length(currency) = 3),
  token       TEXT NOT NULL,
  booking     TEXT NOT NULL,
  recorded_at TEXT NOT NULL,
  PRIMARY KEY (card, counter)
)${d.strict};
${entriesAppendOnly(d)}

CREATE TABLE card_commands (
  card          TEXT NOT NULL REFERENCES card_accounts(card),
  seq           ${d.int} NOT NULL CHECK (seq >= 0),
  kind          TEXT NOT NULL CHECK (kind IN ('sync', 'reload')),
  id            TEXT NOT NULL UNIQUE,
  token         TEXT NOT NULL,
  up_to         ${d.int},
  ceiling_minor ${d.int},
  amount_minor  ${d.int},
  created_at    TEXT NOT NULL,
  applied_at    TEXT,
  PRIMARY KEY (card, seq)
)${d.strict};

CREATE TABLE card_reloads (
  id              TEXT PRIMARY KEY,
  card            TEXT NOT NULL REFERENCES card_accounts(card),
  amount_minor    ${d.int} NOT NULL CHECK (amount_minor > 0),
  currency        TEXT NOT NULL CHECK (length(currency) = 3),
  idempotency_key TEXT NOT NULL UNIQUE,
  created_at      TEXT NOT NULL,
  command_seq     ${d.int},
  applied_at      TEXT
)${d.strict};

CREATE TABLE card_challenges (
  challenge  TEXT PRIMARY KEY,
  card       TEXT NOT NULL REFERENCES card_accounts(card),
  expires_at TEXT NOT NULL
)${d.strict};

CREATE TABLE card_incidents (
  id         ${d.seqKey},
  card       TEXT NOT NULL,
  kind       TEXT NOT NULL,
  detail     TEXT NOT NULL,
  created_at TEXT NOT NULL
)${d.strict};
CREATE INDEX card_incidents_by_card ON card_incidents (card, id);
`;

/** Log entries are append-only: a trigger on each engine, in its own language. */
function entriesAppendOnly(d: Dialect): string {
  if (d.engine === "sqlite") {
    return `CREATE TRIGGER card_entries_append_only_update BEFORE UPDATE ON card_entries BEGIN SELECT RAISE(ABORT, 'card log entries are append-only'); END;
CREATE TRIGGER card_entries_append_only_delete BEFORE DELETE ON card_entries BEGIN SELECT RAISE(ABORT, 'card log entries are append-only'); END;`;
  }
  return `CREATE FUNCTION card_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'card log entries are append-only'; END $$;
CREATE TRIGGER card_entries_append_only BEFORE UPDATE OR DELETE ON card_entries FOR EACH ROW EXECUTE FUNCTION card_entries_append_only();`;
}

/** The card desk's migrations on SQLite (recorded in card_schema_migrations). */
export const cardMigrations: readonly Migration[] = [
  { version: 1, name: "card accounts, log entries, issuer commands, reloads, challenges, incidents", sql: v1(DIALECTS.sqlite) },
];

/** The same versions on PostgreSQL. */
export const cardPgMigrations: readonly Migration[] = [
  { version: 1, name: "card accounts, log entries, issuer commands, reloads, challenges, incidents", sql: v1(DIALECTS.postgres) },
];

/** Where the versions applied are recorded: a table of the card desk's own. */
export const CARD_MIGRATIONS_TABLE = "card_schema_migrations";

/** The card desk's schema on both engines, for the driver's migration runner. */
export const CARD_SCHEMA: Schema = {
  label: "card desk schema",
  table: CARD_MIGRATIONS_TABLE,
  lock: "peage.cards.migrate",
  sqlite: cardMigrations,
  postgres: cardPgMigrations,
};
