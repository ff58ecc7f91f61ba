/**
 * Settling a payment charged by use in the books, on both engines: the unused part goes back
 * through every leg of the payment (the user's charge, the publisher's credit, the fee, the
 * exchange legs), once; the ledger stays balanced; the monthly usage counts what was used; a refund
 * afterwards gives back only what is left, and a refunded payment cannot be settled.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { price } from "@peage/protocol";
import { ENGINES, enrol, NOW, pay, paymentRequest, snapshot, startFixture, type Fixture } from "./helpers/fixture.js";

const paymentIdOf = (ack: { acknowledgment: string }) =>
  JSON.parse(Buffer.from(ack.acknowledgment.split(".")[1]!, "base64url").toString()).paymentId as string;

for (const engine of ENGINES) {
  describe(`usage settlements (${engine})`, () => {
    let fx: Fixture;
    before(async () => {
      fx = await startFixture({ engine, feeBasisPoints: 250 });
    });
    after(() => fx.close());

    const clean = async () => {
      const audit = await fx.store.auditLedger();
      assert.deepEqual([audit.unbalanced, audit.balanceMismatches, audit.paymentMismatches], [[], [], []]);
    };

    it("gives back the unused part through every leg, once, and a refund then gives back the rest", async () => {
      const user = await enrol(fx, { balance: 10_000 });
      const answer = await pay(fx, (await paymentRequest(fx, user, "level-2")).request); // 250 USD: 231 EUR, fee 6 USD
      const id = paymentIdOf(answer.body as { acknowledgment: string });
      const settle = (amount: number) =>
        fx.store.settleUsage({ id: `set_${amount}`, paymentId: id, used: price(amount, "USD"), createdAt: NOW.toISOString() });

      assert.equal((await settle(251)).kind, "above-maximum", "never above the maximum");
      const first = await settle(100);
      assert.equal(first.kind, "settled");
      if (first.kind !== "settled") return;
      assert.deepEqual(first.settlement.maximum, price(250, "USD"));
      assert.deepEqual(first.settlement.used, price(100, "USD"));
      assert.deepEqual(first.settlement.chargedUsed, price(92, "EUR"), "231 × 100 / 250, rounded down");
      assert.equal(first.settlement.feeUsed, 2);
      assert.equal((await snapshot(fx)).balances[user.id], 10_000 - 92);
      assert.equal(await fx.store.monthlyUsage(user.id, NOW), 92);
      await clean();

      assert.equal((await settle(100)).kind, "duplicate", "the same settlement again moves nothing");
      assert.equal((await settle(50)).kind, "already-settled");
      assert.equal((await snapshot(fx)).balances[user.id], 10_000 - 92);

      const refunded = await fx.store.refundPayment({ id: "ref_1", paymentId: id, reason: "test", createdAt: NOW.toISOString() });
      assert.equal(refunded.kind, "refunded");
      assert.equal((await snapshot(fx)).balances[user.id], 10_000, "the refund gives back what was left, not the maximum again");
      await clean();
    });

    it("a refunded payment is not settled", async () => {
      const user = await enrol(fx, { balance: 1_000 });
      const answer = await pay(fx, (await paymentRequest(fx, user, "launch")).request);
      const id = paymentIdOf(answer.body as { acknowledgment: string });
      await fx.store.refundPayment({ id: "ref_2", paymentId: id, reason: "test", createdAt: NOW.toISOString() });
      const outcome = await fx.store.settleUsage({
        id: "set_x",
        paymentId: id,
        used: price(1, "EUR"),
        createdAt: NOW.toISOString(),
      });
      assert.equal(outcome.kind, "refunded");
      assert.equal((await snapshot(fx)).balances[user.id], 1_000);
      await clean();
    });
  });
}
