/**
 * The ledger's rules as pure functions: every kind of transaction balances in each currency, an
 * unbalanced one is refused before anything is written, conversions round half away from zero at
 * the home currency's ISO 4217 exponent, the fee rounds down, periods roll over closed months.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { convert, price, rateTable, type CurrencyCode, type MinorUnits } from "@peage/protocol";
import {
  Accounts,
  assertBalanced,
  collectionPostings,
  feeFor,
  LedgerInvariantError,
  paymentPostings,
  payoutPostings,
  reversePostings,
  topupPostings,
  type Posting,
} from "../src/ledger/ledger.js";
import { assignPeriod, nextPeriod, periodDays, periodOf } from "../src/ledger/periods.js";

const sums = (postings: readonly Posting[]) => {
  const out: Record<string, bigint> = {};
  for (const p of postings) out[p.currency] = (out[p.currency] ?? 0n) + BigInt(p.amount);
  return out;
};

const TABLE = rateTable("EUR", "2026-03-09", { USD: "1.0845", JPY: "162.35", GBP: "0.8512", BHD: "0.4103", CHF: "0.9403" });
const CURRENCIES = ["EUR", "USD", "JPY", "GBP", "BHD", "CHF"] as const;

describe("ledger", () => {
  it("BALANCED: refuses a transaction whose postings do not sum to zero in a currency, naming the invariant", () => {
    const eur = "EUR" as CurrencyCode;
    assert.throws(
      () =>
        assertBalanced({
          id: "t1",
          postings: [
            { account: Accounts.funds("u"), currency: eur, amount: 100 },
            { account: Accounts.payable("p"), currency: eur, amount: -99 },
          ],
        }),
      (e: unknown) =>
        e instanceof LedgerInvariantError && e.invariant === "BALANCED" && /EUR/.test(e.message) && /\b1\b/.test(e.message),
    );
    // Balanced in total but not per currency: 100 EUR against 100 USD is not a transaction.
    assert.throws(
      () =>
        assertBalanced({
          id: "t2",
          postings: [
            { account: Accounts.funds("u"), currency: eur, amount: 100 },
            { account: Accounts.payable("p"), currency: "USD" as CurrencyCode, amount: -100 },
          ],
        }),
      (e: unknown) => e instanceof LedgerInvariantError && e.invariant === "BALANCED",
    );
    assert.throws(
      () =>
        assertBalanced({
          id: "t3",
          postings: [
            { account: Accounts.fees, currency: eur, amount: 0.5 },
            { account: Accounts.fx, currency: eur, amount: -0.5 },
          ],
        }),
      /WHOLE_MINOR_UNITS/,
    );
    assert.throws(
      () =>
        assertBalanced({
          id: "t4",
          postings: [
            { account: "cash", currency: eur, amount: 1 },
            { account: Accounts.fx, currency: eur, amount: -1 },
          ],
        }),
      /KNOWN_ACCOUNTS/,
    );
    assert.throws(
      () =>
        assertBalanced({
          id: "t5",
          postings: [
            { account: Accounts.fees, currency: eur, amount: 2 ** 53 },
            { account: Accounts.fx, currency: eur, amount: -(2 ** 53) },
          ],
        }),
      /WHOLE_MINOR_UNITS/,
    );
    assertBalanced({ id: "t6", postings: [] });
  });

  it("every kind of transaction balances in each currency, and a refund undoes its payment exactly (property)", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...CURRENCIES),
        fc.constantFrom(...CURRENCIES),
        fc.integer({ min: 0, max: 10_000_000_000 }),
        fc.integer({ min: 0, max: 10_000 }),
        fc.constantFrom("prepaid" as const, "postpaid" as const),
        (home, offerCurrency, amount, bps, mode) => {
          const offered = price(amount, offerCurrency);
          const charged = convert(offered, home as CurrencyCode, TABLE)!.price;
          const fee = feeFor(offered, bps);
          const postings = paymentPostings({ id: "p", user: "u", mode, publisher: "pub", price: offered, charged, fee });
          assertBalanced({ id: "p", postings });
          for (const sum of Object.values(sums(postings))) assert.equal(sum, 0n);
          // The user leg is the charged amount, the publisher's the price less the fee.
          const userAccount = mode === "prepaid" ? Accounts.funds("u") : Accounts.receivable("u");
          assert.equal(
            postings.filter((p) => p.account === userAccount).reduce((s, p) => s + p.amount, 0),
            charged.amount,
          );
          assert.equal(
            0 - postings.filter((p) => p.account === Accounts.payable("pub")).reduce((s, p) => s + p.amount, 0),
            amount - fee,
          );
          assert.ok(postings.every((p) => p.amount !== 0));
          const undone = [...postings, ...reversePostings(postings)];
          const byAccount = new Map<string, number>();
          for (const p of undone)
            byAccount.set(`${p.account} ${p.currency}`, (byAccount.get(`${p.account} ${p.currency}`) ?? 0) + p.amount);
          assert.ok([...byAccount.values()].every((v) => v === 0));
        },
      ),
      { seed: 20260310, numRuns: 300 },
    );
    const m = price(12_345, "EUR");
    for (const postings of [
      topupPostings("u", "funds", m),
      topupPostings("u", "deposit", m),
      collectionPostings("u", m),
      payoutPostings("pub", m),
    ])
      assertBalanced({ id: "x", postings });
  });

  it("a payment across currencies goes through the FX account, which keeps the rounding", () => {
    // 2.50 USD at 1.0845 USD/EUR: 230.5164… euro cents, charged 231 (half away from zero).
    const offered = price(250, "USD");
    const charged = convert(offered, "EUR" as CurrencyCode, TABLE)!.price;
    assert.deepEqual(charged, price(231, "EUR"));
    const postings = paymentPostings({
      id: "p",
      user: "u",
      mode: "prepaid",
      publisher: "pub",
      price: offered,
      charged,
      fee: 0 as MinorUnits,
    });
    assert.deepEqual(postings, [
      { account: "funds/u", currency: "EUR", amount: 231 },
      { account: "server/fx", currency: "EUR", amount: -231 },
      { account: "server/fx", currency: "USD", amount: 250 },
      { account: "payable/pub", currency: "USD", amount: -250 },
    ]);
  });

  it("rounds conversions once, half away from zero, at the target currency's ISO 4217 exponent (JPY 0, EUR 2, BHD 3)", () => {
    const cases: [number, string, string, number][] = [
      [500, "JPY", "EUR", 308], // 307.976… cents
      [100, "EUR", "JPY", 162], // 162.35 yen
      [1, "EUR", "JPY", 2], // 1.6235 yen
      [100, "EUR", "BHD", 410], // 0.4103 BHD = 410.3 fils
      [1000, "BHD", "EUR", 244], // 1.000 BHD = 243.72… cents
      [2, "EUR", "USD", 2], // 2.169 cents
      [1, "USD", "EUR", 1], // 0.922 cents
    ];
    for (const [amount, from, to, expected] of cases)
      assert.equal(convert(price(amount, from), to as CurrencyCode, TABLE)!.price.amount, expected, `${amount} ${from} → ${to}`);
    // Exactly half a minor unit rounds away from zero: 1 EUR cent at a rate of 2.5 is 2.5 cents.
    const half = rateTable("EUR", "2026-01-01", { USD: "2.5" });
    assert.equal(convert(price(1, "EUR"), "USD" as CurrencyCode, half)!.price.amount, 3);
  });

  it("takes the fee from the publisher's credit, rounded down", () => {
    assert.equal(feeFor(price(999, "EUR"), 250), 24); // 24.975
    assert.equal(feeFor(price(1, "EUR"), 9999), 0);
    assert.equal(feeFor(price(100, "EUR"), 10_000), 100);
    assert.throws(() => feeFor(price(100, "EUR"), 10_001), RangeError);
    assert.throws(
      () =>
        paymentPostings({
          id: "p",
          user: "u",
          mode: "prepaid",
          publisher: "pub",
          price: price(10, "EUR"),
          charged: price(10, "EUR"),
          fee: 11 as MinorUnits,
        }),
      /FEE_WITHIN_PRICE/,
    );
  });

  it("assigns a transaction to its month, or to the next month still open", () => {
    assert.equal(periodOf("2026-03-31T23:59:59.999Z"), "2026-03");
    assert.equal(periodOf("2026-04-01T00:00:00.000Z"), "2026-04");
    assert.equal(nextPeriod("2026-12"), "2027-01");
    assert.deepEqual(periodDays("2024-02"), { first: "2024-02-01", last: "2024-02-29" });
    assert.equal(assignPeriod("2026-03", []), "2026-03");
    assert.equal(assignPeriod("2026-03", ["2026-03"]), "2026-04");
    assert.equal(assignPeriod("2026-03", ["2026-03", "2026-04", "2026-01"]), "2026-05");
    assert.equal(assignPeriod("2026-02", ["2026-03"]), "2026-02");
  });
});
