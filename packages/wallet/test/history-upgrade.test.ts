/**
 * A history written before payments were counted in the home currency (and before message 3 was
 * kept) opens, is upgraded in place, and its paid entries still count for the rules.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { History } from "../src/index.js";

const firstRelease = `
CREATE TABLE payments (
  id INTEGER PRIMARY KEY, decided_at TEXT NOT NULL, offer_id TEXT NOT NULL, offer_hash TEXT NOT NULL, nonce TEXT NOT NULL,
  description TEXT NOT NULL, publisher TEXT NOT NULL, price_amount INTEGER NOT NULL, price_currency TEXT NOT NULL,
  charged_amount INTEGER, charged_currency TEXT, payment_id TEXT, server_time TEXT,
  consent TEXT NOT NULL, outcome TEXT NOT NULL, error_code TEXT
);`;

test("an old history is upgraded: its paid entries count in the currency they were charged in, and nothing is handed back from them", async () => {
  const dir = await mkdtemp(join(tmpdir(), "peage-history-"));
  try {
    const path = join(dir, "history.db");
    const old = new Database(path);
    old.exec(firstRelease);
    old
      .prepare(
        `INSERT INTO payments (decided_at, offer_id, offer_hash, nonce, description, publisher, price_amount, price_currency,
           charged_amount, charged_currency, payment_id, server_time, consent, outcome) VALUES (?, 'launch', 'h', 'n-old', 'd', 'p', 700, 'EUR', 700, 'EUR', 'pay_1', ?, 'auto', 'paid')`,
      )
      .run("2026-11-24T10:00:00.000Z", "2026-11-24T10:00:00.000Z");
    old.close();

    const history = History.open(path);
    try {
      const totals = history.totals("p", "EUR", new Date("2026-11-24T12:00:00.000Z"));
      assert.equal(totals.publisherToday, 700);
      assert.equal(totals.sinceConfirmation, 700);
      assert.equal(history.wasPaid("n-old"), true);
      assert.equal(history.paidEntry("n-old"), undefined, "no message 3 was kept for it");
    } finally {
      history.close();
    }
    // Opening it again changes nothing more.
    History.open(path).close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("session chains kept before they named their offer are upgraded: they continue, and new chains name their offer", async () => {
  const dir = await mkdtemp(join(tmpdir(), "peage-history-"));
  try {
    const path = join(dir, "history.db");
    History.open(path).close();
    // The table as it first shipped: no offer nonce, no consent.
    const old = new Database(path);
    old.exec(`DROP TABLE session_chains;
      CREATE TABLE session_chains (id TEXT PRIMARY KEY, seed TEXT NOT NULL, length INTEGER NOT NULL, given INTEGER NOT NULL,
        opened_at TEXT NOT NULL);
      INSERT INTO session_chains VALUES ('s-old', 'c2VlZA', 5, 2, '2026-11-24T10:00:00.000Z');`);
    old.close();

    const history = History.open(path);
    try {
      assert.deepEqual(history.chains(), [{ id: "s-old", seed: "c2VlZA", length: 5, given: 2 }]);
      history.saveChain(
        { id: "s-new", seed: "c2VlZDI", length: 3, given: 0, offerNonce: "n-offer", consent: "auto" },
        new Date("2026-11-25T10:00:00.000Z"),
      );
      assert.deepEqual(history.chains()[1], {
        id: "s-new",
        seed: "c2VlZDI",
        length: 3,
        given: 0,
        offerNonce: "n-offer",
        consent: "auto",
      });
    } finally {
      history.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
