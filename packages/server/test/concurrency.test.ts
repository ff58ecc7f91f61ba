/**
 * Many payments at once against one account: the balance (or monthly limit) is checked and
 * debited atomically, so exactly as many payments go through as it covers, never one more.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import Database from "better-sqlite3";
import { enrol, pay, paymentRequest, snapshot, startFixture, type Fixture, type HttpAnswer } from "./helpers/fixture.js";

const REQUESTS = 200;
const COVERED = 150;
const PRICE = 100;

describe("concurrent payments", () => {
  let fx: Fixture;
  before(async () => {
    fx = await startFixture();
  });
  after(async () => {
    await fx.close();
  });

  async function fire(userId: string, requests: unknown[]): Promise<{ answers: HttpAnswer[]; lowestBalance: number }> {
    // A second connection samples the committed balance while the payments run.
    const reader = new Database(join(fx.dir, "peage.db"), { readonly: true });
    const read = reader.prepare("SELECT balance_minor AS b FROM users WHERE id = ?");
    let lowestBalance = Number.POSITIVE_INFINITY;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        lowestBalance = Math.min(lowestBalance, (read.get(userId) as { b: number }).b);
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    try {
      const answers = await Promise.all(requests.map((request) => pay(fx, request)));
      return { answers, lowestBalance };
    } finally {
      sampling = false;
      await sampler;
      reader.close();
    }
  }

  it(`prepaid: ${REQUESTS} simultaneous payments against a balance for ${COVERED}: exactly ${COVERED} acknowledged, the rest ERR_INSUFFICIENT_FUNDS, balance 0`, async () => {
    const user = await enrol(fx, { balance: COVERED * PRICE });
    const requests = await Promise.all(Array.from({ length: REQUESTS }, async () => (await paymentRequest(fx, user, "launch")).request));
    assert.equal(new Set(requests.map((r) => r.consent)).size, REQUESTS);
    const before = snapshot(fx);

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

    const after = snapshot(fx);
    assert.equal(after.balances[user.id], 0);
    assert.ok(lowestBalance >= 0, `the balance went negative: ${lowestBalance}`);
    assert.equal(after.counts["payments"], before.counts["payments"]! + COVERED);
    assert.equal(after.counts["publisher_credits"], before.counts["publisher_credits"]! + COVERED);
    const credit = `${fx.pki.publisher.identity} EUR`;
    assert.equal(after.credits[credit], (before.credits[credit] ?? 0) + COVERED * PRICE);
  });

  it(`postpaid: ${REQUESTS} simultaneous payments against a monthly limit for ${COVERED}: exactly ${COVERED} acknowledged`, async () => {
    const user = await enrol(fx, { mode: "postpaid", limit: COVERED * PRICE });
    const requests = await Promise.all(Array.from({ length: REQUESTS }, async () => (await paymentRequest(fx, user, "launch")).request));
    const before = snapshot(fx);
    const { answers } = await fire(user.id, requests);
    assert.equal(answers.filter((a) => a.status === 200).length, COVERED);
    assert.ok(answers.filter((a) => a.status !== 200).every((a) => a.status === 402 && a.body.code === "ERR_LIMIT_EXCEEDED"));
    const db = new Database(join(fx.dir, "peage.db"), { readonly: true });
    const used = (db.prepare("SELECT SUM(charged_amount) AS s FROM payments WHERE user_id = ?").get(user.id) as { s: number }).s;
    db.close();
    assert.equal(used, COVERED * PRICE);
    assert.equal(snapshot(fx).counts["payments"], before.counts["payments"]! + COVERED);
  });
});
