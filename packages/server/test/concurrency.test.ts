/**
 * Many payments at once against one account: the balance (or monthly limit) is checked and
 * debited atomically, so exactly as many payments go through as it covers, never one more.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  enrol,
  pay,
  paymentRequest,
  snapshot,
  startFixture,
  PAYMENT_SETUPS,
  type Fixture,
  type HttpAnswer,
} from "./helpers/fixture.js";

const REQUESTS = 200;
const COVERED = 150;
const PRICE = 100;

for (const { engine, threads, label } of PAYMENT_SETUPS) {
  describe(`concurrent payments (${label})`, () => {
    let fx: Fixture;
    before(async () => {
      fx = await startFixture({ engine, threads });
    });
    after(async () => {
      await fx.close();
    });

    async function fire(userId: string, requests: unknown[]): Promise<{ answers: HttpAnswer[]; lowestBalance: number }> {
      // A second connection samples the committed balance while the payments run.
      let lowestBalance = Number.POSITIVE_INFINITY;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const [row] = await fx.raw.query<{ b: number }>("SELECT balance_minor AS b FROM users WHERE id = ?", [userId]);
          lowestBalance = Math.min(lowestBalance, Number(row!.b));
          await new Promise((resolve) => setImmediate(resolve));
        }
      })();
      try {
        const answers = await Promise.all(requests.map((request) => pay(fx, request)));
        return { answers, lowestBalance };
      } finally {
        sampling = false;
        await sampler;
      }
    }

    it(`prepaid: ${REQUESTS} simultaneous payments against a balance for ${COVERED}: exactly ${COVERED} acknowledged, the rest ERR_INSUFFICIENT_FUNDS, balance 0`, async () => {
      const user = await enrol(fx, { balance: COVERED * PRICE });
      const requests = await Promise.all(
        Array.from({ length: REQUESTS }, async () => (await paymentRequest(fx, user, "launch")).request),
      );
      assert.equal(new Set(requests.map((r) => r.consent)).size, REQUESTS);
      const before = await snapshot(fx);

      const { answers, lowestBalance } = await fire(user.id, requests);

      const acknowledged = answers.filter((a) => a.status === 200);
      const refused = answers.filter((a) => a.status !== 200);
      assert.equal(acknowledged.length, COVERED);
      assert.equal(refused.length, REQUESTS - COVERED);
      for (const answer of refused) {
        assert.equal(answer.status, 402);
        assert.equal(answer.body.code, "ERR_INSUFFICIENT_FUNDS");
        assert.equal(answer.body.retryable, false);
      }
      assert.equal(new Set(acknowledged.map((a) => a.body.acknowledgment)).size, COVERED, "every acknowledgment is distinct");

      const after = await snapshot(fx);
      assert.equal(after.balances[user.id], 0);
      assert.ok(lowestBalance >= 0, `the balance went negative: ${lowestBalance}`);
      assert.equal(after.counts["payments"], before.counts["payments"]! + COVERED);
      assert.equal(
        after.counts["ledger_transactions"],
        before.counts["ledger_transactions"]! + COVERED,
        "one ledger transaction per payment",
      );
      const credit = `${fx.pki.publisher.identity} EUR`;
      assert.equal(after.credits[credit], (before.credits[credit] ?? 0) + COVERED * PRICE);
    });

    it(`postpaid: ${REQUESTS} simultaneous payments against a monthly limit for ${COVERED}: exactly ${COVERED} acknowledged`, async () => {
      const user = await enrol(fx, { mode: "postpaid", limit: COVERED * PRICE });
      const requests = await Promise.all(
        Array.from({ length: REQUESTS }, async () => (await paymentRequest(fx, user, "launch")).request),
      );
      const before = await snapshot(fx);
      const { answers } = await fire(user.id, requests);
      assert.equal(answers.filter((a) => a.status === 200).length, COVERED);
      assert.ok(answers.filter((a) => a.status !== 200).every((a) => a.status === 402 && a.body.code === "ERR_LIMIT_EXCEEDED"));
      const [row] = await fx.raw.query<{ s: number }>("SELECT SUM(charged_amount) AS s FROM payments WHERE user_id = ?", [
        user.id,
      ]);
      assert.equal(Number(row!.s), COVERED * PRICE);
      assert.equal((await snapshot(fx)).counts["payments"], before.counts["payments"]! + COVERED);
    });
  });
}
