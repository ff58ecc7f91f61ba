/**
 * Money going back to the user of a payment made under a spending mandate gives it back to the
 * mandate's budget, on both engines, over HTTP: a refund gives back what it refunds, to the period
 * the payment was charged to, exactly once under racing refunds and retries; a usage settlement
 * gives back the unused part, and a later refund only what is left. A refund of a payment the user
 * made themselves, an unknown payment, a refund without the operator's key and a settlement by
 * somebody without the settlement key give nothing back to any mandate.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createOffer, newSettlementKey, price, type Catalog } from "@peage/protocol";
import {
  admin,
  assertProblem,
  ENGINES,
  http,
  pay,
  paymentRequest,
  startFixture,
  type Fixture,
  type HttpAnswer,
} from "./helpers/fixture.js";
import { payUnderMandate, paymentIdOf, setUpMandate, usageOf } from "./helpers/mandates.js";
import { signUptoCatalog, uptoOffer } from "./helpers/upto.js";

const PRICE = 100; // the "launch" offer: 1.00 EUR
const DAY = 86_400_000;

for (const engine of ENGINES) {
  describe(`refunds and settlements under a spending mandate (${engine})`, () => {
    let fx: Fixture;
    let upto: Catalog;
    before(async () => {
      fx = await startFixture({ engine });
      upto = await signUptoCatalog(fx, [["search", "A search, up to 5.00 EUR", price(500, "EUR")]]);
    });
    after(async () => {
      await fx.close();
    });

    const launch = () => createOffer(fx.entry("launch"), fx.clock);
    const refund = (paymentId: string) => admin(fx, "POST", `/v1/admin/payments/${paymentId}/refund`, { reason: "test" });
    const clean = async () => {
      const audit = await fx.store.auditLedger();
      assert.deepEqual([audit.unbalanced, audit.balanceMismatches, audit.paymentMismatches], [[], [], []]);
    };

    it("a refund gives its charge back to the budget exactly once, also under 20 racing refunds and a retry", async () => {
      const set = await setUpMandate(fx, { budget: 3 * PRICE, maxPerPayment: PRICE });
      const paid: HttpAnswer[] = [];
      for (let i = 0; i < 3; i++) paid.push(await payUnderMandate(fx, set, launch()));
      assert.deepEqual(
        paid.map((a) => a.status),
        [200, 200, 200],
      );
      assertProblem(await payUnderMandate(fx, set, launch()), 402, "ERR_MANDATE_BUDGET_EXCEEDED");

      const answers = await Promise.all(Array.from({ length: 20 }, () => refund(paymentIdOf(paid[0]!))));
      assert.equal(answers.filter((a) => a.status === 201).length, 1);
      for (const answer of answers.filter((a) => a.status !== 201)) assertProblem(answer, 409, "ERR_ALREADY_REFUNDED");
      assertProblem(await refund(paymentIdOf(paid[0]!)), 409, "ERR_ALREADY_REFUNDED");
      // The budget is given back once; the count of payments made stays what it was.
      assert.deepEqual(await usageOf(fx, set.id), { total: { spent: 2 * PRICE, payments: 3 } });

      assert.equal((await payUnderMandate(fx, set, launch())).status, 200, "the refunded part pays again");
      assertProblem(await payUnderMandate(fx, set, launch()), 402, "ERR_MANDATE_BUDGET_EXCEEDED");
      assert.deepEqual(await usageOf(fx, set.id), { total: { spent: 3 * PRICE, payments: 4 } });
      await clean();
    });

    it("a refund gives back to the period the payment was charged to, not to the period in progress", async () => {
      const start = fx.clock.now();
      try {
        const set = await setUpMandate(fx, { budget: 2 * PRICE, maxPerPayment: PRICE, period: "day", expiresInMs: 3 * DAY });
        const first = await payUnderMandate(fx, set, launch());
        assert.equal(first.status, 200);
        fx.clock.advance(DAY);
        assert.equal((await payUnderMandate(fx, set, launch())).status, 200);
        assert.equal((await refund(paymentIdOf(first))).status, 201);
        const day = (at: Date) => at.toISOString().slice(0, 10);
        assert.deepEqual(await usageOf(fx, set.id), {
          [day(start)]: { spent: 0, payments: 1 },
          [day(fx.clock.now())]: { spent: PRICE, payments: 1 },
        });
      } finally {
        fx.clock.set(start);
      }
    });

    it("a settlement gives back the unused part once, and a refund then gives back only what is left", async () => {
      const set = await setUpMandate(fx, { budget: 600, maxPerPayment: 500 });
      const { offer, key, inner } = uptoOffer(fx, upto.offers[0]!);
      const paid = await payUnderMandate(fx, set, offer);
      assert.equal(paid.status, 200, JSON.stringify(paid.body));
      const id = paymentIdOf(paid);
      assert.deepEqual(await usageOf(fx, set.id), { total: { spent: 500, payments: 1 } });

      const settle = (body: object) => http(fx, "POST", `/v1/payments/${id}/settlement`, { body });
      const terms = upto.offers[0]!.terms;
      // Somebody without the settlement key cannot make the mandate's budget larger.
      const forged = await settle({ terms, key: newSettlementKey(), inner, used: price(0, "EUR") });
      assertProblem(forged, 403, "ERR_FORBIDDEN");
      assert.deepEqual(await usageOf(fx, set.id), { total: { spent: 500, payments: 1 } });

      const settled = await Promise.all(Array.from({ length: 5 }, () => settle({ terms, key, inner, used: price(120, "EUR") })));
      assert.deepEqual(
        settled.map((a) => a.status),
        [200, 200, 200, 200, 200],
      );
      assert.deepEqual(await usageOf(fx, set.id), { total: { spent: 120, payments: 1 } }, "380 given back, once");
      assert.equal((await refund(id)).status, 201);
      assert.deepEqual(await usageOf(fx, set.id), { total: { spent: 0, payments: 1 } }, "the 120 left given back");
      await clean();
    });

    it("a refund of the user's own payment, of an unknown payment or without the key gives nothing to any mandate", async () => {
      const set = await setUpMandate(fx, { budget: 2 * PRICE, maxPerPayment: PRICE });
      const mine = await payUnderMandate(fx, set, launch());
      assert.equal(mine.status, 200);
      const own = await pay(fx, (await paymentRequest(fx, set.user, "launch")).request);
      assert.equal(own.status, 200);
      assert.equal((await refund(paymentIdOf(own))).status, 201);
      assertProblem(await refund("pay_nosuchpayment"), 404, "ERR_NOT_FOUND");
      const anonymous = await http(fx, "POST", `/v1/admin/payments/${paymentIdOf(mine)}/refund`, { body: { reason: "x" } });
      assert.equal(anonymous.status, 401);
      assert.deepEqual(await usageOf(fx, set.id), { total: { spent: PRICE, payments: 1 } });
      await clean();
    });
  });
}
