/**
 * SQLite's webhook events get ids that begin with their time (migration 14,
 * store/event-ids-migration.ts), in the form receivers check ("evt_" and 32 hex digits), so that
 * the events of one commit share their primary key's pages; a database migrated from version 13
 * keeps its events and writes the new ids from then on.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { migrations } from "../src/store/migrations.js";
import { migrate, SqliteStore } from "../src/store/sqlite.js";
import { Books, eur } from "./helpers/books.js";

const timeOf = (id: string) => parseInt(id.slice(4, 16), 16);

describe("webhook event ids on SQLite", () => {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), "peage-event-ids-"))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("begin with the time of the payment or refund they are written with, and differ after it", async () => {
    const path = join(dir, "upgraded.db");
    // A database as a server before version 14 left it, with an event written then.
    const old = new Database(path);
    migrate(
      old,
      migrations.filter((m) => m.version < 14),
    );
    old
      .prepare(
        `INSERT INTO users (id, public_key_jwk, alg, kid, mode, home_currency, balance_minor, created_at)
         VALUES ('urn:peage:user:before', '{}', 'ES256', 'kid-before', 'prepaid', 'EUR', 0, '2026-03-01T00:00:00.000Z')`,
      )
      .run();
    old
      .prepare(
        `INSERT INTO payments (id, user_id, publisher, offer_hash, price_amount, price_currency, charged_amount, charged_currency,
           rate, nonce, offer_date, server_time, request_hash, acknowledgment)
         VALUES ('pay_before', 'urn:peage:user:before', 'urn:peage:publisher:p', 'h', 0, 'EUR', 0, 'EUR', '1', 'n', 't', 't', 'r', '{}')`,
      )
      .run();
    const before = old.prepare("SELECT id FROM webhook_events").pluck().all() as string[];
    assert.equal(before.length, 1);
    old.close();
    const store = SqliteStore.open(path);
    try {
      const books = new Books(store);
      const user = await books.user("event-ids");
      await books.topUp(user, 10_000);
      const start = Date.now();
      const paid = await Promise.all(
        Array.from({ length: 20 }, () => books.pay(user, "urn:peage:publisher:p", eur(100), "2026-03-02T10:00:00.000Z")),
      );
      await books.refund(paid[0]!.id, "2026-03-03T10:00:00.000Z");
      const end = Date.now();
      const raw = new Database(path, { readonly: true });
      const all = raw.prepare("SELECT id, type, ref FROM webhook_events").all() as { id: string; type: string; ref: string }[];
      raw.close();
      assert.deepEqual(
        all.filter((e) => e.ref === "pay_before").map((e) => e.id),
        before,
      );
      const events = all.filter((e) => e.ref !== "pay_before");
      assert.deepEqual(events.map((e) => e.type).sort(), [
        "payment.refunded",
        ...Array.from({ length: 20 }, () => "payment.succeeded"),
      ]);
      for (const { id } of events) {
        assert.match(id, /^evt_[0-9a-f]{32}$/);
        assert.ok(timeOf(id) >= start - 1 && timeOf(id) <= end + 1, `${id} was made between ${start} and ${end}`);
      }
      assert.equal(new Set(events.map((e) => e.id.slice(16))).size, events.length);
    } finally {
      await store.close();
    }
  });
});
