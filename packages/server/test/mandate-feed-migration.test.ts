/**
 * The mandate feed's migration on both engines, from a database of the version before holding payments under mandates:
 * each link gets its user, and positions 1, 2, … per user in the order the payments were made.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import Database from "better-sqlite3";
import pg from "pg";
import { mandateFeedMigrationPg, mandateFeedMigrationSqlite } from "../src/mandates/migrations.js";
import { migratePostgres, migrateSqlite } from "../src/store/driver.js";
import { LEDGER_SCHEMA } from "../src/store/ledger-schema.js";
import { migrations } from "../src/store/migrations.js";
import { pgMigrations } from "../src/store/pg-migrations.js";
import { pgSchemaClient } from "./helpers/engines.js";

const T = "2026-03-01T00:00:00.000Z";
const users = ["a", "b"].map(
  (u) => `INSERT INTO users (id, public_key_jwk, alg, kid, mode, home_currency, balance_minor, monthly_limit_minor, created_at)
  VALUES ('urn:peage:user:${u}', '{}', 'ES256', 'k${u}', 'prepaid', 'EUR', 1000, NULL, '${T}');`,
);
const mandates = ["a", "b"].map(
  (
    u,
  ) => `INSERT INTO agent_mandates (id, user_id, agent_kid, token, claims, currency, max_per_payment, budget, max_payments, period,
  expires_at, registered_at) VALUES ('m_${u}', 'urn:peage:user:${u}', 'kid', 't', '{}', 'EUR', 100, 1000, 10, 'total', '${T}', '${T}');`,
);
/** Payments in this order (their seq), alternating users; the links inserted in another order. */
const order = ["a1", "b1", "a2", "a3", "b2"];
const payments = order.map(
  (
    p,
  ) => `INSERT INTO payments (id, user_id, publisher, offer_hash, price_amount, price_currency, charged_amount, charged_currency,
  rate, rate_date, nonce, offer_date, server_time, request_hash, acknowledgment)
  VALUES ('pay_${p}', 'urn:peage:user:${p[0]}', 'urn:peage:publisher:p', 'h', 100, 'EUR', 100, 'EUR', '1.0000000000', NULL,
  'nonce-${p}', '${T}', '${T}', 'r', '{}');`,
);
const links = [...order]
  .reverse()
  .map(
    (p) => `INSERT INTO agent_mandate_payments (payment_id, mandate_id, period_key) VALUES ('pay_${p}', 'm_${p[0]}', 'total');`,
  );
const FILL = [...users, ...mandates, ...payments, ...links].join("\n");
const READ = "SELECT payment_id, user_id, position FROM agent_mandate_payments ORDER BY user_id, position";
const EXPECTED = [
  ["pay_a1", "urn:peage:user:a", 1],
  ["pay_a2", "urn:peage:user:a", 2],
  ["pay_a3", "urn:peage:user:a", 3],
  ["pay_b1", "urn:peage:user:b", 1],
  ["pay_b2", "urn:peage:user:b", 2],
];
const rowsOf = (rows: Record<string, unknown>[]) => rows.map((r) => [r["payment_id"], r["user_id"], Number(r["position"])]);

describe("the mandate payments feed's migration (sqlite)", () => {
  it("numbers the links already there per user, in payment order", () => {
    const db = new Database(":memory:");
    db.pragma("foreign_keys = ON");
    migrateSqlite(
      db,
      LEDGER_SCHEMA,
      migrations.filter((m) => m.version < mandateFeedMigrationSqlite.version),
    );
    db.exec(FILL);
    migrateSqlite(db, LEDGER_SCHEMA);
    assert.deepEqual(rowsOf(db.prepare(READ).all() as Record<string, unknown>[]), EXPECTED);
    db.close();
  });
});

describe("the mandate payments feed's migration (postgres)", () => {
  let client: pg.Client;
  let drop: () => Promise<void>;
  before(async () => {
    ({ client, drop } = await pgSchemaClient("feed"));
  });
  after(() => drop());

  it("numbers the links already there per user, in payment order", async () => {
    await migratePostgres(
      client,
      LEDGER_SCHEMA,
      pgMigrations.filter((m) => m.version < mandateFeedMigrationPg.version),
    );
    await client.query(FILL);
    await migratePostgres(client, LEDGER_SCHEMA);
    assert.deepEqual(rowsOf((await client.query(READ)).rows), EXPECTED);
  });
});
