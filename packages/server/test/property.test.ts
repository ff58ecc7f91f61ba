/**
 * Random workloads, run concurrently, on both engines (fast-check, seeded): batches of payments,
 * top-ups, deposits, refunds and settlements at once, against one store or, on PostgreSQL, two
 * (two server processes on one database). After every batch the ledger's invariants hold
 * (`auditLedger`: balanced, balances equal to postings, one transaction per payment, closed periods
 * untouched, settlements posted) and so do the limits: no prepaid balance below zero, no postpaid
 * month above its limit, no payment before a required deposit, no refund twice, no payout above
 * what was earned.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { price, type PartyId } from "@peage/protocol";
import { buildConfig, settle, SettlementError, type Store } from "../src/index.js";
import { periodOf } from "../src/ledger/periods.js";
import { periodStates } from "../src/settlement/settle.js";
import { Books } from "./helpers/books.js";
import { ENGINES, openTestStore, type TestStore } from "./helpers/engines.js";

type Op =
  | {
      readonly op: "pay";
      readonly user: number;
      readonly publisher: number;
      readonly currency: "EUR" | "USD" | "JPY";
      readonly amount: number;
    }
  | { readonly op: "topup"; readonly user: number; readonly amount: number }
  | { readonly op: "deposit"; readonly amount: number }
  | { readonly op: "refund"; readonly pick: number }
  | { readonly op: "settle" };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      op: fc.constant("pay" as const),
      user: fc.nat(4),
      publisher: fc.nat(2),
      currency: fc.constantFrom("EUR" as const, "USD" as const, "JPY" as const),
      amount: fc.integer({ min: 0, max: 900 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant("topup" as const), user: fc.nat(2), amount: fc.integer({ min: 1, max: 3000 }) }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("deposit" as const), amount: fc.integer({ min: 1, max: 600 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("refund" as const), pick: fc.nat(1000) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("settle" as const) }) },
);

/** Batches of concurrent operations; each batch a few days after the previous one. */
const workloadArb = fc.array(
  fc.record({ days: fc.integer({ min: 0, max: 12 }), ops: fc.array(opArb, { minLength: 1, maxLength: 7 }) }),
  { minLength: 3, maxLength: 10 },
);

const PUBLISHERS = ["urn:peage:publisher:p0", "urn:peage:publisher:p1", "urn:peage:publisher:p2"];
const LIMITS = { 3: 2500, 4: 4000 } as const;
const DEPOSIT = 1000;
const tally = { settlements: 0, payouts: 0, refunds: 0, refused: 0 };

for (const engine of ENGINES) {
  describe(`random concurrent workloads (${engine})`, () => {
    let work: string;
    before(() => {
      work = mkdtempSync(join(tmpdir(), "peage-property-"));
    });
    after(() => rmSync(work, { recursive: true, force: true }));

    it("keep the ledger's invariants and the limits after every batch (property)", async (t) => {
      let runNumber = 0;
      tally.settlements = tally.payouts = tally.refunds = tally.refused = 0;
      await fc.assert(
        fc.asyncProperty(workloadArb, async (batches) => {
          const t: TestStore = await openTestStore(engine, mkdtempSync(join(work, "run-")), { poolSize: 6 });
          // On PostgreSQL a second store plays a second server process on the same database.
          const other: Store = engine === "postgres" ? await t.reopen() : t.store;
          try {
            await check(t, other, batches, join(work, `out-${++runNumber}`));
          } finally {
            if (other !== t.store) await other.close();
            await t.close();
          }
        }),
        { seed: 424242, numRuns: engine === "postgres" ? 6 : 10, endOnFailure: true, includeErrorInReport: true },
      );
      // The workloads did reach what they are meant to test.
      t.diagnostic(JSON.stringify(tally));
      assert.ok(tally.settlements > 0 && tally.payouts > 0 && tally.refunds > 0 && tally.refused > 0, JSON.stringify(tally));
    });
  });
}

async function check(
  t: TestStore,
  other: Store,
  batches: readonly { days: number; ops: readonly Op[] }[],
  outDir: string,
): Promise<void> {
  const books = new Books(t.store, 300);
  const otherBooks = new Books(other, 300);
  // 0-2 prepaid (EUR, USD, JPY); 3 postpaid EUR; 4 postpaid USD with a deposit to pay first.
  const users: PartyId<"user">[] = [
    await books.user(`pre-eur-${t.engine}`, { currency: "EUR" }),
    await books.user(`pre-usd-${t.engine}`, { currency: "USD" }),
    await books.user(`pre-jpy-${t.engine}`, { currency: "JPY" }),
    await books.user(`post-eur-${t.engine}`, { mode: "postpaid", currency: "EUR", limit: LIMITS[3] }),
    await books.user(`post-usd-${t.engine}`, { mode: "postpaid", currency: "USD", limit: LIMITS[4], deposit: DEPOSIT }),
  ];
  await t.store.putPublisher(
    { id: PUBLISHERS[0] as PartyId<"publisher">, name: "P0", country: "DE", iban: "DE89370400440532013000", bic: "COBADEFFXXX" },
    "2026-01-01T00:00:00.000Z",
  );
  await t.store.putPublisher(
    { id: PUBLISHERS[1] as PartyId<"publisher">, name: "P1", country: "GB", iban: "GB29NWBK60161331926819", bic: "NWBKGB2LXXX" },
    "2026-01-01T00:00:00.000Z",
  );
  const config = buildConfig({ dataDir: "/nonexistent" }, { minimumPayouts: { EUR: "5.00", USD: "5.00", JPY: "500" } });
  const paid: string[] = [];
  let clock = Date.parse("2026-03-01T09:00:00.000Z");

  for (const batch of batches) {
    clock += batch.days * 86_400_000;
    const at = (i: number) => new Date(clock + i * 1000).toISOString();
    const outcomes = await Promise.allSettled(
      batch.ops.map(async (op, i) => {
        // Alternate between the two stores (the same one on SQLite).
        const b = i % 2 === 0 ? books : otherBooks;
        switch (op.op) {
          case "pay": {
            const outcome = await b.pay(users[op.user]!, PUBLISHERS[op.publisher]!, price(op.amount, op.currency), at(i));
            if (outcome.kind === "recorded") paid.push(outcome.id);
            else tally.refused++;
            if (outcome.kind !== "recorded")
              assert.ok(["insufficient-funds", "limit-exceeded", "deposit-required"].includes(outcome.kind), outcome.kind);
            return outcome.kind;
          }
          case "topup":
            return b.topUp(users[op.user]!, op.amount, at(i));
          case "deposit":
            return b.topUp(users[4]!, op.amount, at(i), "deposit");
          case "refund": {
            if (paid.length === 0) return "nothing";
            const refunded = (await b.refund(paid[op.pick % paid.length]!, at(i))).kind;
            if (refunded === "refunded") tally.refunds++;
            return refunded;
          }
          case "settle": {
            const month = periodOf(new Date(clock));
            const target = (await periodStates(b.store)).find((s) => !s.settled && s.period <= month);
            if (!target) return "nothing";
            try {
              // The month in progress may be the target: closing it early is part of what is exercised.
              const result = await settle({
                store: b.store,
                period: target.period,
                outDir,
                config,
                now: new Date(clock),
                closeNow: true,
              });
              if (result.recordedNow) {
                tally.settlements++;
                tally.payouts += result.settlement.payouts.length;
              }
              return result.recordedNow;
            } catch (error) {
              // Two settlements of consecutive periods in one batch: the later one waits for the next batch.
              if (error instanceof SettlementError && error.code === "ERR_PERIOD_ORDER") return "later";
              throw error;
            }
          }
        }
      }),
    );
    for (const outcome of outcomes) if (outcome.status === "rejected") throw outcome.reason;
    await invariants(t);
  }
}

async function invariants(t: TestStore): Promise<void> {
  const audit = await t.store.auditLedger();
  assert.deepEqual(
    {
      unbalanced: audit.unbalanced,
      balanceMismatches: audit.balanceMismatches,
      paymentMismatches: audit.paymentMismatches,
      lateTransactions: audit.lateTransactions,
      settlementMismatches: audit.settlementMismatches,
    },
    { unbalanced: [], balanceMismatches: [], paymentMismatches: [], lateTransactions: [], settlementMismatches: [] },
  );
  // Prepaid balances: never negative, and exactly top-ups less the payments not refunded.
  for (const row of await t.raw.query<{ id: string; balance_minor: number; topups: number; spent: number }>(
    `SELECT u.id, u.balance_minor,
       COALESCE((SELECT SUM(amount_minor) FROM topups o WHERE o.user_id = u.id AND o.kind = 'funds'), 0) AS topups,
       COALESCE((SELECT SUM(charged_amount) FROM payments p WHERE p.user_id = u.id AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.payment_id = p.id)), 0) AS spent
     FROM users u WHERE u.mode = 'prepaid'`,
  )) {
    assert.ok(Number(row.balance_minor) >= 0, `${row.id} below zero`);
    assert.equal(Number(row.balance_minor), Number(row.topups) - Number(row.spent), row.id);
  }
  // Postpaid months: the payments not refunded stay within the limit.
  for (const row of await t.raw.query<{ id: string; month: string; used: number; limit: number }>(
    `SELECT p.user_id AS id, substr(p.server_time, 1, 7) AS month, SUM(p.charged_amount) AS used, u.monthly_limit_minor AS "limit"
     FROM payments p JOIN users u ON u.id = p.user_id
     WHERE u.mode = 'postpaid' AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.payment_id = p.id)
     GROUP BY p.user_id, substr(p.server_time, 1, 7), u.monthly_limit_minor`,
  )) {
    assert.ok(Number(row.used) <= Number(row.limit), `${row.id} used ${row.used} of ${row.limit} in ${row.month}`);
  }
  // No payment before the deposit is paid in full (deposits only grow, so: none while it is short).
  for (const row of await t.raw.query<{ id: string; deposit_minor: number; deposit_required_minor: number; n: number }>(
    "SELECT u.id, u.deposit_minor, u.deposit_required_minor, (SELECT COUNT(*) FROM payments p WHERE p.user_id = u.id) AS n FROM users u WHERE u.deposit_required_minor > 0",
  )) {
    if (Number(row.n) > 0)
      assert.ok(Number(row.deposit_minor) >= Number(row.deposit_required_minor), `${row.id} paid before its deposit`);
  }
  // Refunded once; paid out no more than was ever credited.
  const [refunds] = await t.raw.query<{ n: number; distinct_payments: number }>(
    "SELECT COUNT(*) AS n, COUNT(DISTINCT payment_id) AS distinct_payments FROM refunds",
  );
  assert.equal(Number(refunds!.n), Number(refunds!.distinct_payments));
  for (const row of await t.raw.query<{ publisher: string; currency: string; out: number; credited: number }>(
    `SELECT o.publisher, o.currency, SUM(o.amount_minor) AS "out",
       COALESCE((SELECT -SUM(q.amount) FROM postings q JOIN ledger_transactions x ON x.seq = q.txn_seq
                 WHERE x.kind = 'payment' AND q.account = 'payable/' || o.publisher AND q.currency = o.currency), 0) AS credited
     FROM payouts o GROUP BY o.publisher, o.currency`,
  )) {
    assert.ok(
      Number(row.out) <= Number(row.credited),
      `${row.publisher} paid ${row.out} ${row.currency}, credited ${row.credited}`,
    );
  }
}
