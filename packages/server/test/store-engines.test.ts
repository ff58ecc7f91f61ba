/**
 * What both storage engines must do alike: versioned migrations (a newer schema refused), the
 * append-only rules, stored reference rates by day, and correct locking when two servers share
 * one database: limits exact and a period closed between transactions, never during one. On
 * SQLite, a database of schema version 1 is upgraded with its payments and top-ups posted.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { rateTable, type CurrencyCode, type MinorUnits, type PartyId } from "@peage/protocol";
import { StoreRowError } from "../src/store/logic.js";
import { migrate } from "../src/store/sqlite.js";
import { parseEcbRateDays, SqliteStore, StoreSchemaError, type PaymentRecord, type Store } from "../src/index.js";
import { migrations } from "../src/store/migrations.js";
import { Books, ecbXml, eur } from "./helpers/books.js";
import { ENGINES, openTestStore, type TestStore } from "./helpers/engines.js";

/** An ECB historical file of three days (sample values). */
const HISTORY_XML = ecbXml({
  "2026-03-06": { USD: "1.0900", JPY: "160.00" },
  "2026-03-05": { USD: "1.0800", JPY: "161.00" },
  "2026-03-03": { USD: "1.0700", JPY: "162.00", GBP: "0.8500" },
});

for (const engine of ENGINES) {
  describe(`store engine (${engine})`, () => {
    let work: string;
    const opened: TestStore[] = [];
    before(() => {
      work = mkdtempSync(join(tmpdir(), "peage-engine-test-"));
    });
    after(async () => {
      for (const t of opened) await t.close();
      rmSync(work, { recursive: true, force: true });
    });
    const fresh = async () => {
      const t = await openTestStore(engine, mkdtempSync(join(work, "db-")));
      opened.push(t);
      return t;
    };

    it("applies the versioned migrations once, and refuses a database written by a newer server", async () => {
      const t = await fresh();
      assert.deepEqual(
        await t.raw.query("SELECT version FROM schema_migrations ORDER BY version"),
        migrations.map((m) => ({ version: m.version })),
      );
      await (await t.reopen()).close();
      assert.deepEqual(
        await t.raw.query("SELECT version FROM schema_migrations ORDER BY version"),
        migrations.map((m) => ({ version: m.version })),
      );
      await t.raw.query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 'x')");
      await assert.rejects(t.reopen(), (e: unknown) => e instanceof StoreSchemaError && /99/.test(e.message));
    });

    it("keeps payments, transactions, postings, refunds and closed periods append-only", async () => {
      const t = await fresh();
      const books = new Books(t.store);
      const user = await books.user(`append-${t.engine}`);
      await books.topUp(user, 500);
      const payment = await books.pay(user, "urn:peage:publisher:p", eur(100), "2026-03-02T10:00:00.000Z");
      await books.refund(payment.id, "2026-03-03T10:00:00.000Z");
      await t.store.closePeriod("2026-02", "2026-03-04T00:00:00.000Z");
      for (const sql of [
        "UPDATE payments SET charged_amount = 0",
        "DELETE FROM payments",
        "UPDATE ledger_transactions SET period = '2026-09'",
        "DELETE FROM ledger_transactions",
        "UPDATE postings SET amount = 1",
        "DELETE FROM postings",
        "UPDATE refunds SET reason = 'x'",
        "DELETE FROM refunds",
        "DELETE FROM closed_periods",
      ]) {
        await assert.rejects(t.raw.query(sql), /append-only|stays closed/, sql);
      }
      await assert.rejects(t.raw.query("UPDATE users SET balance_minor = -1"), /check/i);
    });

    it("reads a corrupt row as a StoreRowError naming its column, never as a branded value", async () => {
      const t = await fresh();
      const books = new Books(t.store);
      const user = await books.user(`corrupt-${t.engine}`);
      await books.topUp(user, 500);
      const payment = await books.pay(user, "urn:peage:publisher:p", eur(100), "2026-03-02T10:00:00.000Z");
      const refused = (column: string) => (e: unknown) =>
        e instanceof StoreRowError && e.code === "ERR_STORE_ROW" && e.column === column && /restore the database/.test(e.message);
      // The schema's CHECKs let these through (a three-letter code, a 64-bit integer, any text): the parse does not.
      await t.raw.query("UPDATE users SET home_currency = 'ZZZ' WHERE id = ?", [user]);
      await assert.rejects(t.store.getUser(user), refused("users.home_currency"));
      // Books.pay would read the row first: the payment goes to the store as the server sends it.
      const at = "2026-03-02T10:00:00.000Z";
      const another = (n: number): PaymentRecord => ({
        id: `pay-again-${n}`,
        user,
        publisher: "urn:peage:publisher:p" as PartyId<"publisher">,
        offerHash: "h",
        price: eur(100),
        charged: eur(100),
        rate: "1.0000000000",
        rateDate: undefined,
        nonce: `nonce-again-${n}`,
        offerDate: at,
        serverTime: at,
        requestHash: `request-again-${n}`,
        acknowledgment: { type: "peage.acknowledgment", v: 1, acknowledgment: "ack" },
      });
      // A payment refuses it the same way, before writing anything (on PostgreSQL, also in one call of its function).
      await assert.rejects(t.store.recordPayment(another(1)), refused("users.home_currency"));
      await t.raw.query("UPDATE users SET home_currency = 'EUR', balance_minor = 9007199254740993 WHERE id = ?", [user]);
      await assert.rejects(t.store.getUser(user), refused("users.balance_minor"));
      await assert.rejects(t.store.recordPayment(another(2)), refused("users.balance_minor"));
      assert.deepEqual(await t.raw.query("SELECT id FROM payments"), [{ id: payment.id }]);
      await assert.rejects(
        t.store.topUp({
          id: "t-corrupt",
          user,
          amount: 1 as MinorUnits,
          currency: "EUR" as CurrencyCode,
          idempotencyKey: "k-corrupt",
          createdAt: "2026-03-02T11:00:00.000Z",
        }),
        refused("users.balance_minor"),
      );
      await t.raw.query(
        "INSERT INTO publishers (id, name, country, created_at, updated_at) VALUES ('acme', 'Acme', 'FR', 'x', 'x')",
      );
      await assert.rejects(t.store.listPublishers(), refused("publishers.id"));
      // Payments are append-only: the corrupt one is a row inserted beside the real one.
      await t.raw.query(
        `INSERT INTO payments (id, user_id, publisher, offer_hash, price_amount, price_currency, charged_amount, charged_currency,
           rate, nonce, offer_date, server_time, request_hash, acknowledgment)
         SELECT 'pay-corrupt', user_id, 'urn:peage:publisher:p', offer_hash, price_amount, 'XXX', charged_amount, charged_currency,
           rate, 'n-corrupt', offer_date, server_time, request_hash, acknowledgment FROM payments WHERE id = ?`,
        [payment.id],
      );
      assert.equal((await t.store.getPayment(payment.id))?.id, payment.id);
      await assert.rejects(t.store.getPayment("pay-corrupt"), refused("payments.price_currency"));
    });

    it("stores reference rates by day and gives the latest day on or before a date", async () => {
      const t = await fresh();
      const days = parseEcbRateDays(HISTORY_XML);
      assert.deepEqual(
        days.map((d) => d.date),
        ["2026-03-03", "2026-03-05", "2026-03-06"],
      );
      assert.deepEqual(await t.store.importRates(days, "hist.xml", "2026-03-10T00:00:00.000Z"), {
        inserted: 3,
        replaced: 0,
        unchanged: 0,
      });
      assert.deepEqual(await t.store.importRates(days, "hist.xml", "2026-03-10T00:00:00.000Z"), {
        inserted: 0,
        replaced: 0,
        unchanged: 3,
      });
      assert.equal(await t.store.ratesOn("2026-03-02"), undefined);
      assert.deepEqual(
        await t.store.ratesOn("2026-03-04"),
        rateTable("EUR", "2026-03-03", { GBP: "0.8500", JPY: "162.00", USD: "1.0700" }),
      );
      assert.equal((await t.store.ratesOn("2026-03-05"))?.rates["USD"], "1.0800");
      assert.equal((await t.store.ratesOn("2027-01-01"))?.date, "2026-03-06");
      // A revised day replaces the stored one.
      const revised = rateTable("EUR", "2026-03-05", { USD: "1.0811" });
      assert.deepEqual(await t.store.importRates([revised], "daily.xml", "2026-03-11T00:00:00.000Z"), {
        inserted: 0,
        replaced: 1,
        unchanged: 0,
      });
      assert.deepEqual(await t.store.ratesOn("2026-03-05"), revised);
    });

    it("two servers on one database: a postpaid limit holds exactly, and a period closes between transactions", async () => {
      const t = await fresh();
      const second: Store = await t.reopen();
      try {
        const a = new Books(t.store);
        const b = new Books(second);
        const user = await a.user(`limit-${t.engine}`, { mode: "postpaid", limit: 2000 });
        const outcomes = await Promise.all(
          Array.from({ length: 40 }, (_, i) =>
            (i % 2 ? a : b).pay(user, "urn:peage:publisher:p", eur(100), `2026-03-10T10:00:${String(i).padStart(2, "0")}.000Z`),
          ),
        );
        assert.equal(outcomes.filter((o) => o.kind === "recorded").length, 20);
        assert.ok(outcomes.filter((o) => o.kind !== "recorded").every((o) => o.kind === "limit-exceeded"));

        // Payments at March server times on both servers while one of them closes March.
        const prepaid = await a.user(`close-${t.engine}`);
        await a.topUp(prepaid, 1_000_000);
        const paying = Array.from({ length: 60 }, (_, i) =>
          (i % 2 ? a : b).pay(prepaid, "urn:peage:publisher:p", eur(10), "2026-03-20T10:00:00.000Z"),
        );
        const closing = second.closePeriod("2026-03", "2026-03-20T10:00:00.000Z");
        const [closed] = await Promise.all([closing, ...paying]);
        const rows = await t.raw.query<{ seq: number; period: string }>(
          "SELECT seq, period FROM ledger_transactions WHERE user_id = ? AND kind = 'payment'",
          [prepaid],
        );
        assert.equal(rows.length, 60);
        for (const row of rows)
          assert.equal(
            row.period,
            Number(row.seq) <= closed.lastSeq ? "2026-03" : "2026-04",
            `transaction ${row.seq} (close at ${closed.lastSeq})`,
          );
        assert.deepEqual((await t.store.auditLedger()).lateTransactions, []);
      } finally {
        await second.close();
      }
    });
  });
}

describe("SQLite schema upgrade", () => {
  it("posts the payments and top-ups of a version 1 database as ledger transactions", async () => {
    const dir = mkdtempSync(join(tmpdir(), "peage-upgrade-test-"));
    try {
      const path = join(dir, "peage.db");
      const db = new Database(path);
      migrate(db, [migrations[0]!]);
      db.exec(`
        INSERT INTO users (id, public_key_jwk, alg, kid, mode, home_currency, balance_minor, monthly_limit_minor, created_at) VALUES
          ('urn:peage:user:a', '{}', 'ES256', 'ka', 'prepaid', 'EUR', 700, NULL, '2026-01-01T00:00:00.000Z'),
          ('urn:peage:user:b', '{}', 'ES256', 'kb', 'postpaid', 'USD', 0, 5000, '2026-01-01T00:00:00.000Z');
        INSERT INTO topups (id, user_id, amount_minor, currency, idempotency_key, created_at) VALUES ('top_1', 'urn:peage:user:a', 1000, 'EUR', 'k1', '2026-01-02T00:00:00.000Z');
        INSERT INTO payments (id, user_id, publisher, offer_hash, price_amount, price_currency, charged_amount, charged_currency, rate, rate_date, nonce, offer_date, server_time, request_hash, acknowledgment) VALUES
          ('pay_1', 'urn:peage:user:a', 'urn:peage:publisher:p', 'h', 300, 'EUR', 300, 'EUR', '1.0000000000', NULL, 'n1', 't', '2026-01-05T00:00:00.000Z', 'r1', '{}'),
          ('pay_2', 'urn:peage:user:b', 'urn:peage:publisher:p', 'h', 250, 'EUR', 271, 'USD', '1.0845000000', '2026-01-04', 'n2', 't', '2026-02-05T00:00:00.000Z', 'r2', '{}');
        INSERT INTO publisher_credits (publisher, currency, amount_minor, payment_id, created_at) VALUES
          ('urn:peage:publisher:p', 'EUR', 300, 'pay_1', 't'), ('urn:peage:publisher:p', 'EUR', 250, 'pay_2', 't');
      `);
      db.close();
      const store = SqliteStore.open(path);
      try {
        const audit = await store.auditLedger();
        assert.deepEqual([audit.unbalanced, audit.balanceMismatches, audit.paymentMismatches], [[], [], []]);
        assert.equal(audit.transactions, 3);
        const txns = await store.ledgerTransactions({ limit: 10 });
        assert.deepEqual(
          txns.map((x) => [x.kind, x.period]),
          [
            ["payment", "2026-01"],
            ["payment", "2026-02"],
            ["topup", "2026-01"],
          ],
        );
        const raw = new Database(path, { readonly: true });
        assert.deepEqual(raw.prepare("SELECT publisher, currency, amount_minor FROM publisher_balances").all(), [
          { publisher: "urn:peage:publisher:p", currency: "EUR", amount_minor: 550 },
        ]);
        raw.close();
        // And the upgraded books work on: a refund of an old payment.
        const refund = await store.refundPayment({
          id: "ref_1",
          paymentId: "pay_1",
          reason: "upgrade test",
          createdAt: "2026-03-01T00:00:00.000Z",
        });
        assert.equal(refund.kind, "refunded");
        assert.equal((await store.getUser("urn:peage:user:a" as PartyId<"user">))?.balance, 1000);
        assert.deepEqual((await store.auditLedger()).unbalanced, []);
        // Version 3 rebuilt the transactions table: same rows, keys and rules, and card loads post.
        const load = {
          id: "load_1",
          user: "urn:peage:user:a" as PartyId<"user">,
          amount: 200 as MinorUnits,
          currency: "EUR" as CurrencyCode,
          ref: "card:c:load",
          createdAt: "2026-03-02T00:00:00.000Z",
        };
        assert.equal((await store.loadCard(load)).kind, "loaded");
        assert.equal((await store.loadCard(load)).kind, "repeated");
        assert.deepEqual(
          [(await store.getUser(load.user))?.balance, await store.cardFloat(load.user, load.currency)],
          [800, 200],
        );
        assert.equal((await store.loadCard({ ...load, id: "load_2", amount: 801 as MinorUnits })).kind, "insufficient-funds");
        const after = new Database(path);
        assert.deepEqual(after.pragma("foreign_key_check"), []);
        assert.throws(() => after.prepare("DELETE FROM ledger_transactions").run(), /append-only/);
        after.close();
        const audit2 = await store.auditLedger();
        assert.deepEqual([audit2.unbalanced, audit2.balanceMismatches, audit2.paymentMismatches], [[], [], []]);
      } finally {
        await store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
