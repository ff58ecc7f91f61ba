/**
 * The store on PostgreSQL at SERIALIZABLE, as a distributed PostgreSQL-compatible engine runs it:
 * two stores (two server processes) race payments of a few users, retries of the same request and
 * reuses of one nonce, so that transactions fail with SQLSTATE 40001 and run again. However often
 * they do, every balance covers exactly the payments recorded, no nonce is recorded twice, and the
 * ledger balances.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { price, type MinorUnits, type PartyId } from "@peage/protocol";
import type { PaymentRecord, PgStore, Store } from "../src/index.js";
import type { PaymentOutcome } from "../src/store/store.js";
import { Books } from "./helpers/books.js";
import { openTestStore, type TestStore } from "./helpers/engines.js";

const USERS = 3;
const COVERED = 40;
const OFFERED = 100;
const PRICE = 100;

function record(user: PartyId<"user">, nonce: string, requestHash: string, id: string): PaymentRecord {
  return {
    id,
    user,
    publisher: "urn:peage:publisher:p" as PartyId<"publisher">,
    offerHash: "h",
    price: price(PRICE, "EUR"),
    charged: price(PRICE, "EUR"),
    rate: "1.0000000000",
    rateDate: undefined,
    nonce,
    offerDate: "2026-03-10T10:00:00.000Z",
    serverTime: "2026-03-10T10:00:00.000Z",
    requestHash,
    acknowledgment: { type: "peage.acknowledgment", v: 1, acknowledgment: `ack-${id}` },
    fee: 0 as MinorUnits,
  };
}

describe("PostgreSQL at SERIALIZABLE: serialization failures are retried, nothing lost or doubled", () => {
  let work: string;
  let t: TestStore;
  let second: Store;
  before(async () => {
    work = mkdtempSync(join(tmpdir(), "peage-serializable-test-"));
    t = await openTestStore("postgres", work, { isolation: "serializable", poolSize: 6 });
    second = await t.reopen();
  });
  after(async () => {
    await second.close();
    await t.close();
    rmSync(work, { recursive: true, force: true });
  });

  it(`${USERS} users, ${OFFERED} payments each on two stores, with retries and reused nonces: exactly ${COVERED} each`, async () => {
    const books = new Books(t.store);
    const users: PartyId<"user">[] = [];
    for (let u = 0; u < USERS; u++) {
      const user = await books.user(`serializable-${u}-${t.engine}`);
      await books.topUp(user, COVERED * PRICE);
      users.push(user);
    }
    const stores = [t.store, second];
    const sent: { store: Store; payment: PaymentRecord; kind: "new" | "retry" | "reuse" }[] = [];
    for (let i = 0; i < OFFERED; i++) {
      for (const [u, user] of users.entries()) {
        const payment = record(user, `n-${u}-${i}`, `r-${u}-${i}`, `pay_${u}_${i}`);
        sent.push({ store: stores[i % 2]!, payment, kind: "new" });
        // Every fifth request also reaches the other store at once (a client's retry), every
        // seventh nonce is reused by another request (a replay with other terms).
        if (i % 5 === 0)
          sent.push({ store: stores[(i + 1) % 2]!, payment: { ...payment, id: `${payment.id}_retry` }, kind: "retry" });
        if (i % 7 === 0)
          sent.push({
            store: stores[(i + 1) % 2]!,
            payment: record(user, payment.nonce, `other-${u}-${i}`, `${payment.id}_reuse`),
            kind: "reuse",
          });
      }
    }
    const outcomes: PaymentOutcome[] = await Promise.all(sent.map(({ store, payment }) => store.recordPayment(payment)));

    const retries = (t.store as PgStore).retries + (second as PgStore).retries;
    assert.ok(retries > 0, "the race forced no serialization failure: the retry path was not exercised");
    const rows = await t.raw.query<{ user_id: string; nonce: string; id: string; request_hash: string }>(
      "SELECT user_id, nonce, id, request_hash FROM payments",
    );
    assert.equal(new Set(rows.map((r) => r.nonce)).size, rows.length, "a nonce recorded twice");
    for (const user of users) assert.equal(rows.filter((r) => r.user_id === user).length, COVERED, `payments of ${user}`);
    const balances = await t.raw.query<{ balance_minor: number }>(
      `SELECT balance_minor FROM users WHERE id IN (${users.map(() => "?").join(", ")})`,
      users,
    );
    assert.deepEqual(
      balances.map((b) => b.balance_minor),
      users.map(() => 0),
    );

    const byId = new Map(rows.map((r) => [r.id, r]));
    assert.equal(outcomes.filter((o) => o.kind === "recorded").length, rows.length, "one recorded outcome per payment row");
    for (const [i, outcome] of outcomes.entries()) {
      const { payment } = sent[i]!;
      if (outcome.kind === "recorded") assert.equal(byId.get(payment.id)?.request_hash, payment.requestHash);
      else if (outcome.kind === "duplicate")
        assert.equal(
          byId.get(outcome.payment.id)?.request_hash,
          payment.requestHash,
          "a duplicate answers with the same request's payment",
        );
      else if (outcome.kind === "nonce-reused")
        assert.notEqual(rows.find((r) => r.nonce === payment.nonce)?.request_hash, payment.requestHash);
      else assert.equal(outcome.kind, "insufficient-funds");
    }
    const audit = await t.store.auditLedger();
    assert.deepEqual([audit.unbalanced, audit.balanceMismatches], [[], []]);
  });
});
