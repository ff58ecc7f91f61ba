/**
 * Nonces unique per user, on both engines: another user's payment or signed request with the same
 * nonce is not a replay, the same user's is; and migration 4 carries a database's payments,
 * ledger and request nonces over unchanged.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { migrations } from "../src/store/migrations.js";
import { Books, eur } from "./helpers/books.js";
import { ENGINES, openTestStore, type TestStore } from "./helpers/engines.js";

const AT = "2026-03-02T10:00:00.000Z";

/** Back to version 2's global uniqueness, so that migration 4 runs again on a database with data. */
const DOWNGRADE: Record<(typeof ENGINES)[number], string[]> = {
  // SQLite's migration rebuilds the tables whatever their constraints: removing its record is enough.
  sqlite: ["DELETE FROM schema_migrations WHERE version = 4"],
  postgres: [
    "ALTER TABLE payments DROP CONSTRAINT payments_user_nonce_key",
    "ALTER TABLE payments ADD CONSTRAINT payments_nonce_key UNIQUE (nonce)",
    "ALTER TABLE user_request_nonces DROP CONSTRAINT user_request_nonces_pkey",
    "ALTER TABLE user_request_nonces ADD PRIMARY KEY (nonce)",
    "DELETE FROM schema_migrations WHERE version = 4",
  ],
};

for (const engine of ENGINES) {
  describe(`nonces per user (${engine})`, () => {
    let work: string;
    const opened: TestStore[] = [];
    before(() => {
      work = mkdtempSync(join(tmpdir(), "peage-nonces-"));
    });
    after(async () => {
      for (const t of opened) await t.close();
      rmSync(work, { recursive: true, force: true });
    });

    it("migrates a database with payments, refunds and request nonces, then keeps nonces per user", async () => {
      const t = await openTestStore(engine, mkdtempSync(join(work, "db-")));
      opened.push(t);
      const books = new Books(t.store);
      const owner = await books.user(`owner-${engine}`);
      const other = await books.user(`other-${engine}`);
      await books.topUp(owner, 10_000);
      await books.topUp(other, 10_000);
      const first = await books.pay(owner, "urn:peage:publisher:p", eur(300), AT, "shared-nonce-1");
      assert.equal(first.kind, "recorded");
      assert.equal((await books.refund(first.id, AT)).kind, "refunded");
      assert.equal(
        await t.store.rememberRequestNonce(owner, "request-nonce-1", new Date("2026-03-02T10:05:00.000Z"), new Date(AT)),
        true,
      );
      for (const sql of DOWNGRADE[engine]) await t.raw.query(sql);
      const counts = await t.store.counts();
      await t.store.close();

      const store = await t.reopen();
      try {
        assert.deepEqual(await t.raw.query("SELECT MAX(version) AS v FROM schema_migrations"), [
          { v: migrations.at(-1)!.version },
        ]);
        assert.deepEqual(await store.counts(), counts, "every row carried over");
        assert.equal((await store.findPaymentByNonce(owner, "shared-nonce-1"))?.id, first.id);
        assert.equal(await store.findPaymentByNonce(other, "shared-nonce-1"), undefined);
        const audit = await store.auditLedger();
        assert.deepEqual([audit.unbalanced, audit.balanceMismatches, audit.paymentMismatches], [[], [], []]);
        const again = new Books(store);
        assert.equal(
          (await again.pay(other, "urn:peage:publisher:p", eur(100), AT, "shared-nonce-1")).kind,
          "recorded",
          "another user's nonce is not a replay",
        );
        assert.equal(
          (await again.pay(owner, "urn:peage:publisher:p", eur(100), AT, "shared-nonce-1")).kind,
          "nonce-reused",
          "the same user's is",
        );
        const expires = new Date("2026-03-02T10:05:00.000Z");
        assert.equal(await store.rememberRequestNonce(owner, "request-nonce-1", expires, new Date(AT)), false);
        assert.equal(await store.rememberRequestNonce(other, "request-nonce-1", expires, new Date(AT)), true);
        await assert.rejects(t.raw.query("DELETE FROM payments"), /append-only/);
      } finally {
        await store.close();
      }
    });
  });
}
