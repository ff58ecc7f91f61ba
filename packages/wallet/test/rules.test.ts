import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { parseCurrency, price, rateTable, type Price } from "@peage/protocol";
import { decide, parseRules, PSD2_LOW_VALUE_RULES, type Rules, type SpendingTotals } from "../src/index.js";

const EUR = parseCurrency("EUR");
const USD = parseCurrency("USD");
const JPY = parseCurrency("JPY");
const rates = rateTable("EUR", "2026-11-24", { USD: "1.0845", JPY: "162.50" });
const none: SpendingTotals = { publisherToday: 0, publisherThisMonth: 0, sinceConfirmation: 0, consecutiveAuto: 0 };

function decideEur(amount: number, totals: Partial<SpendingTotals> = {}, rules: Rules = PSD2_LOW_VALUE_RULES) {
  const p = price(amount, "EUR");
  return decide({ amount: p, offered: p, home: EUR, totals: { ...none, ...totals }, rules });
}

test("PSD2 defaults: at most 30.00 EUR per payment passes without asking, 30.01 EUR is asked", () => {
  assert.equal(decideEur(3000).kind, "auto");
  assert.equal(decideEur(0).kind, "auto");
  const over = decideEur(3001);
  assert.equal(over.kind, "ask");
  assert.match(over.kind === "ask" ? over.reason : "", /30\.00 EUR per payment/);
});

test("PSD2 defaults: asked once the total since the last confirmation would exceed 100.00 EUR", () => {
  // 3 × 30.00 already paid without asking: 10.00 more makes exactly 100.00, which is allowed.
  assert.equal(decideEur(1000, { sinceConfirmation: 9000, consecutiveAuto: 3 }).kind, "auto");
  // One cent more would make 100.01.
  const ask = decideEur(1001, { sinceConfirmation: 9000, consecutiveAuto: 3 });
  assert.equal(ask.kind, "ask");
  assert.match(ask.kind === "ask" ? ask.reason : "", /100\.00 EUR/);
  assert.equal(decideEur(1, { sinceConfirmation: 10000, consecutiveAuto: 4 }).kind, "ask");
});

test("PSD2 defaults: the sixth consecutive payment without asking is asked", () => {
  assert.equal(decideEur(1, { sinceConfirmation: 4, consecutiveAuto: 4 }).kind, "auto");
  const sixth = decideEur(1, { sinceConfirmation: 5, consecutiveAuto: 5 });
  assert.equal(sixth.kind, "ask");
  assert.match(sixth.kind === "ask" ? sixth.reason : "", /5 payments/);
});

test("the EUR defaults apply as their equivalent in another home currency, converted exactly", () => {
  // 30.00 EUR × 1.0845 = 32.535 USD, rounded half away from zero to 32.54 USD.
  const usd = (amount: number) => {
    const p = price(amount, "USD");
    return decide({ amount: p, offered: p, home: USD, totals: none, rules: PSD2_LOW_VALUE_RULES, rates });
  };
  assert.equal(usd(3254).kind, "auto");
  assert.equal(usd(3255).kind, "ask");
  // JPY has no minor unit: 30 EUR × 162.50 = 4875 JPY.
  const jpy = (amount: number) => {
    const p = price(amount, "JPY");
    return decide({ amount: p, offered: p, home: JPY, totals: none, rules: PSD2_LOW_VALUE_RULES, rates });
  };
  assert.equal(jpy(4875).kind, "auto");
  assert.equal(jpy(4876).kind, "ask");
});

test("without an exchange rate nothing passes unasked", () => {
  const offered = price(100, "GBP");
  assert.equal(decide({ amount: undefined, offered, home: EUR, totals: none, rules: PSD2_LOW_VALUE_RULES }).kind, "ask");
  const p = price(100, "USD");
  // The limits are in EUR, the home currency is USD, and there are no rates to compare them.
  assert.equal(decide({ amount: p, offered: p, home: USD, totals: none, rules: PSD2_LOW_VALUE_RULES }).kind, "ask");
});

test("per-publisher day and month limits: auto-accept ones ask, refuse ones refuse without asking", () => {
  const rules: Rules = {
    autoAccept: {
      perPayment: price(3000, "EUR"),
      perPublisherPerDay: price(500, "EUR"),
      perPublisherPerMonth: price(2000, "EUR"),
    },
    refuse: { perPayment: price(5000, "EUR"), perPublisherPerDay: price(1000, "EUR"), perPublisherPerMonth: price(4000, "EUR") },
  };
  assert.equal(decideEur(100, { publisherToday: 400 }, rules).kind, "auto"); // 5.00 exactly
  assert.equal(decideEur(101, { publisherToday: 400 }, rules).kind, "ask");
  assert.equal(decideEur(100, { publisherToday: 0, publisherThisMonth: 1900 }, rules).kind, "auto");
  assert.equal(decideEur(101, { publisherThisMonth: 1900 }, rules).kind, "ask");
  const perPaymentOnly: Rules = { autoAccept: rules.autoAccept, refuse: { perPayment: price(5000, "EUR") } };
  assert.equal(decideEur(5000, {}, perPaymentOnly).kind, "ask");
  assert.equal(decideEur(5001, {}, perPaymentOnly).kind, "refuse");
  assert.equal(decideEur(600, { publisherToday: 400 }, rules).kind, "ask");
  const refusedDay = decideEur(601, { publisherToday: 400 }, rules);
  assert.equal(refusedDay.kind, "refuse");
  assert.match(refusedDay.kind === "refuse" ? refusedDay.reason : "", /10\.00 EUR per publisher and day/);
  assert.equal(decideEur(101, { publisherThisMonth: 3900 }, rules).kind, "refuse");
  // A refuse limit that cannot be checked for lack of a rate refuses.
  const gbp = price(1, "GBP");
  assert.equal(decide({ amount: undefined, offered: gbp, home: EUR, totals: none, rules }).kind, "refuse");
});

test("property: nothing above the per-payment cap or the cumulative cap ever passes unasked", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 100_000 }),
      fc.integer({ min: 0, max: 20_000 }),
      fc.integer({ min: 0, max: 10 }),
      (amount, since, count) => {
        const d = decideEur(amount, { sinceConfirmation: since, consecutiveAuto: count });
        if (d.kind === "auto") {
          assert.ok(amount <= 3000);
          assert.ok(since + amount <= 10000);
          assert.ok(count < 5);
        } else {
          assert.equal(d.kind, "ask");
          assert.ok(amount > 3000 || since + amount > 10000 || count >= 5);
        }
      },
    ),
  );
});

test("with no auto-accept rule chosen, every payment is asked, even one cent; refuse limits still apply", () => {
  const rules: Rules = { autoAccept: null, refuse: { perPayment: price(5000, "EUR") } };
  const ask = decideEur(1, {}, rules);
  assert.equal(ask.kind, "ask");
  assert.match((ask as { reason: string }).reason, /no auto-accept rule/);
  assert.equal(decideEur(5001, {}, rules).kind, "refuse");
});

test("rules from the config: nothing auto-accepted when absent, strict about shape and integer amounts", () => {
  assert.deepEqual(parseRules(undefined), { autoAccept: null, refuse: {} });
  assert.deepEqual(parseRules({ autoAccept: null, refuse: {} }), { autoAccept: null, refuse: {} });
  assert.deepEqual(parseRules({ refuse: { perPayment: { amount: 100, currency: "EUR" } } }).autoAccept, null);
  assert.throws(() => parseRules({ autoAccept: null, refuse: {}, extra: 1 }), /unknown field/);
  const rules = parseRules({
    autoAccept: { perPayment: { amount: 500, currency: "USD" }, consecutive: 3 },
    refuse: { perPayment: { amount: 10000, currency: "USD" } },
  });
  assert.deepEqual(rules.autoAccept, { perPayment: { amount: 500, currency: "USD" }, consecutive: 3 });
  assert.deepEqual(rules.refuse.perPayment, { amount: 10000, currency: "USD" } as Price);
  assert.throws(() => parseRules({ autoAccept: { perPayment: { amount: 5.5, currency: "EUR" } } }), /integer minor units/);
  assert.throws(() => parseRules({ autoAccept: { perPayment: { amount: 500, currency: "XXX" } } }), /ISO 4217/);
  assert.throws(() => parseRules({ autoAccept: { perPaymnet: { amount: 1, currency: "EUR" } } }), /unknown field/);
  assert.throws(() => parseRules({ autoAccept: { consecutive: -1 } }), /consecutive/);
  assert.throws(() => parseRules({ other: {} }), /unknown field/);
});
