/**
 * POST /v1/payments end to end over HTTP: the acknowledgment a merchant accepts, what the
 * database records for prepaid and postpaid accounts, currency conversion, idempotent retries.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  convert,
  createPaymentRequest,
  decodeJws,
  JwsTypes,
  price,
  verifyAcknowledgment,
  type AcknowledgmentClaims,
} from "@peage/protocol";
import {
  admin,
  assertProblem,
  enrol,
  http,
  NOW,
  pay,
  paymentRequest,
  RATES,
  snapshot,
  startFixture,
  topUp,
  PAYMENT_SETUPS,
  type Fixture,
} from "./helpers/fixture.js";

function claimsOf(ack: { acknowledgment: string }): AcknowledgmentClaims {
  const decoded = decodeJws(ack.acknowledgment, JwsTypes.acknowledgment);
  assert.ok(decoded.ok);
  return decoded.value.payload as AcknowledgmentClaims;
}

for (const { engine, threads, label } of PAYMENT_SETUPS) {
  describe(`payments (${label})`, () => {
    let fx: Fixture;
    before(async () => {
      fx = await startFixture({ engine, threads });
    });
    after(async () => {
      await fx.close();
    });

    it("prepaid: answers an acknowledgment the merchant accepts, debits the balance and credits the publisher", async () => {
      const user = await enrol(fx, { balance: 1000 });
      const before = await snapshot(fx);
      const { offer, request } = await paymentRequest(fx, user, "launch");
      const answer = await pay(fx, request);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.match(answer.contentType, /^application\/json/);
      assert.equal(answer.body.type, "peage.acknowledgment");

      const verified = await verifyAcknowledgment(answer.body, offer, {
        trust: fx.trust,
        clock: fx.clock,
        server: fx.pki.server.identity,
      });
      assert.ok(verified.ok, verified.ok ? "" : verified.error.message);
      const claims = verified.value.claims;
      assert.equal(claims.user, user.id);
      assert.deepEqual(claims.charged, price(100, "EUR"));
      assert.equal(claims.rate, undefined, "no rate when no conversion happened");
      assert.equal(claims.serverTime, NOW.toISOString());

      const after = await snapshot(fx);
      assert.equal(after.balances[user.id], 900);
      assert.equal(after.counts["payments"], before.counts["payments"]! + 1);
      assert.equal(after.counts["ledger_transactions"], before.counts["ledger_transactions"]! + 1);
      assert.equal(after.counts["postings"], before.counts["postings"]! + 2, "the user's debit and the publisher's credit");
      const credit = `${fx.pki.publisher.identity} EUR`;
      assert.equal(after.credits[credit], (before.credits[credit] ?? 0) + 100);

      const listed = await admin(fx, "GET", `/v1/admin/payments?user=${encodeURIComponent(user.id)}`);
      assert.equal(listed.status, 200);
      assert.equal(listed.body.payments.length, 1);
      assert.equal(listed.body.payments[0].paymentId, claims.paymentId);
      assert.deepEqual(listed.body.payments[0].acknowledgment, answer.body);
    });

    it("accepts consents signed with an Ed25519 key", async () => {
      const user = await enrol(fx, { balance: 500, alg: "EdDSA" });
      const { offer, request } = await paymentRequest(fx, user, "launch");
      const answer = await pay(fx, request);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.ok((await verifyAcknowledgment(answer.body, offer, { trust: fx.trust, clock: fx.clock })).ok);
      assert.equal((await snapshot(fx)).balances[user.id], 400);
    });

    it("prepaid: refuses a payment the balance does not cover, changing nothing", async () => {
      const user = await enrol(fx, { balance: 99 });
      const before = await snapshot(fx);
      const { request } = await paymentRequest(fx, user, "launch");
      assertProblem(await pay(fx, request), 402, "ERR_INSUFFICIENT_FUNDS", false);
      assert.deepEqual(await snapshot(fx), before);
      // Topped up, the very same request goes through.
      await topUp(fx, user.id, 1);
      assert.equal((await pay(fx, request)).status, 200);
      assert.equal((await snapshot(fx)).balances[user.id], 0);
    });

    it("postpaid: charges up to the monthly limit, refuses beyond it, and starts afresh next month", async () => {
      const clockStart = fx.clock.now();
      try {
        const user = await enrol(fx, { mode: "postpaid", limit: 300 });
        for (let i = 0; i < 3; i++) assert.equal((await pay(fx, (await paymentRequest(fx, user)).request)).status, 200);
        const before = await snapshot(fx);
        assertProblem(await pay(fx, (await paymentRequest(fx, user)).request), 402, "ERR_LIMIT_EXCEEDED", false);
        assert.deepEqual(await snapshot(fx), before);
        const account = await admin(fx, "GET", `/v1/admin/users/${user.id}`);
        assert.deepEqual(account.body.usedThisMonth, price(300, "EUR"));
        assert.equal(account.body.balance, undefined);

        // A higher limit lets the next one through.
        assert.equal((await admin(fx, "PUT", `/v1/admin/users/${user.id}/limit`, { monthlyLimit: 400 })).status, 200);
        assert.equal((await pay(fx, (await paymentRequest(fx, user)).request)).status, 200);
        assertProblem(await pay(fx, (await paymentRequest(fx, user)).request), 402, "ERR_LIMIT_EXCEEDED");

        // The month is the calendar month in UTC.
        fx.clock.set(new Date("2026-04-01T00:00:00.000Z"));
        assert.equal((await pay(fx, (await paymentRequest(fx, user)).request)).status, 200);
        const april = await admin(fx, "GET", `/v1/admin/users/${user.id}`);
        assert.deepEqual(april.body.usedThisMonth, price(100, "EUR"));
      } finally {
        fx.clock.set(clockStart);
      }
    });

    it("converts the price into the user's home currency with the current rates, and records the rate", async () => {
      const cases = [
        { currency: "EUR", offerId: "level-2", signed: price(250, "USD") },
        { currency: "JPY", offerId: "launch", signed: price(100, "EUR") },
        { currency: "GBP", offerId: "level-2", signed: price(250, "USD") },
      ];
      for (const { currency, offerId, signed } of cases) {
        const user = await enrol(fx, { currency, balance: 1_000_000 });
        const { offer, request } = await paymentRequest(fx, user, offerId);
        const answer = await pay(fx, request);
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        const expected = convert(
          signed,
          signed.currency === currency ? signed.currency : (currency as typeof signed.currency),
          RATES,
        );
        assert.ok(expected);
        const claims = claimsOf(answer.body);
        assert.deepEqual(claims.price, signed, "the acknowledgment keeps the signed price");
        assert.deepEqual(claims.charged, expected.price);
        assert.equal(claims.rate, expected.rate);
        assert.ok((await verifyAcknowledgment(answer.body, offer, { trust: fx.trust, clock: fx.clock })).ok);

        const [row] = await fx.raw.query("SELECT * FROM payments WHERE id = ?", [claims.paymentId]);
        assert.ok(row);
        assert.equal(row["charged_amount"], expected.price.amount);
        assert.equal(row["charged_currency"], currency);
        assert.equal(row["price_amount"], signed.amount);
        assert.equal(row["price_currency"], signed.currency);
        assert.equal(row["rate"], expected.rate);
        assert.equal(row["rate_date"], RATES.date);
        assert.equal((await snapshot(fx)).balances[user.id], 1_000_000 - expected.price.amount);
      }
      // 250 USD cents at 1.0845 USD/EUR is 230.52 EUR cents: 231, rounded half away from zero.
      assert.deepEqual(convert(price(250, "USD"), price(0, "EUR").currency, RATES)?.price, price(231, "EUR"));
    });

    it("refuses a currency the rates do not cover (ERR_RATE_UNAVAILABLE), changing nothing", async () => {
      const user = await enrol(fx, { balance: 1_000_000 });
      const before = await snapshot(fx);
      assertProblem(await pay(fx, (await paymentRequest(fx, user, "kenya")).request), 422, "ERR_RATE_UNAVAILABLE", false);
      assert.deepEqual(await snapshot(fx), before);
    });

    it("an identical retry returns the identical acknowledgment and charges once, even after the consent expired", async () => {
      const user = await enrol(fx, { balance: 1000 });
      const { request } = await paymentRequest(fx, user);
      const first = await pay(fx, request);
      assert.equal(first.status, 200);
      const afterFirst = await snapshot(fx);
      const second = await pay(fx, request);
      assert.equal(second.status, 200);
      assert.deepEqual(second.body, first.body);
      assert.deepEqual(await snapshot(fx), afterFirst);

      const clockStart = fx.clock.now();
      fx.clock.advance(60 * 60_000);
      try {
        const late = await pay(fx, request);
        assert.equal(late.status, 200);
        assert.deepEqual(late.body, first.body);
      } finally {
        fx.clock.set(clockStart);
      }
      assert.equal((await snapshot(fx)).balances[user.id], 900);
    });

    it("identical requests sent at the same time are charged once and all get the same acknowledgment", async () => {
      const user = await enrol(fx, { balance: 1000 });
      const { request } = await paymentRequest(fx, user);
      const answers = await Promise.all(Array.from({ length: 12 }, () => pay(fx, request)));
      for (const answer of answers) {
        assert.equal(answer.status, 200);
        assert.deepEqual(answer.body, answers[0]!.body);
      }
      assert.equal((await snapshot(fx)).balances[user.id], 900);
    });

    it("a different request for an offer nonce already paid is refused with 409 ERR_NONCE_REUSED", async () => {
      const user = await enrol(fx, { balance: 1000 });
      const { offer, request } = await paymentRequest(fx, user);
      assert.equal((await pay(fx, request)).status, 200);
      const before = await snapshot(fx);
      fx.clock.advance(1000);
      const again = await createPaymentRequest({
        offer,
        user: user.id,
        server: fx.pki.server.identity,
        userKey: user.key,
        clock: fx.clock,
      });
      fx.clock.advance(-1000);
      assert.notEqual(again.consent, request.consent);
      assertProblem(await pay(fx, again), 409, "ERR_NONCE_REUSED", false);
      assert.deepEqual(await snapshot(fx), before);
    });

    it("a suspended account cannot pay until reactivated", async () => {
      const user = await enrol(fx, { balance: 1000 });
      assert.equal((await admin(fx, "POST", `/v1/admin/users/${user.id}/suspend`)).body.status, "suspended");
      const before = await snapshot(fx);
      const { request } = await paymentRequest(fx, user);
      assertProblem(await pay(fx, request), 403, "ERR_ACCOUNT_SUSPENDED", false);
      assert.deepEqual(await snapshot(fx), before);
      assert.equal((await admin(fx, "POST", `/v1/admin/users/${user.id}/reactivate`)).body.status, "active");
      assert.equal((await pay(fx, request)).status, 200);
    });

    it("counts payments by outcome and their latency in /metrics", async () => {
      const metrics = await http(fx, "GET", "/metrics");
      assert.equal(metrics.status, 200);
      assert.match(metrics.contentType, /^text\/plain; version=0\.0\.4/);
      // Summed over the offers' currencies.
      const count = (outcome: string) =>
        [
          ...metrics.body.matchAll(new RegExp(`peage_payments_total\\{outcome="${outcome}",currency="[A-Za-z]+"\\} (\\d+)`, "g")),
        ].reduce((sum, m) => sum + Number(m[1]), 0);
      assert.ok(count("recorded") >= 10);
      assert.ok(count("replayed") >= 2);
      assert.equal(count("ERR_NONCE_REUSED"), 1);
      assert.ok(count("ERR_INSUFFICIENT_FUNDS") >= 1);
      const total = Number(/peage_payment_duration_seconds_count (\d+)/.exec(metrics.body)?.[1]);
      const inf = Number(/peage_payment_duration_seconds_bucket\{le="\+Inf"\} (\d+)/.exec(metrics.body)?.[1]);
      assert.equal(inf, total);
      assert.ok(total >= count("recorded") + count("replayed"));
    });
  });
}

describe("payments without rates", () => {
  let fx: Fixture;
  before(async () => {
    fx = await startFixture({ rates: undefined });
  });
  after(async () => {
    await fx.close();
  });

  it("answers 503 ERR_RATE_UNAVAILABLE (retryable) for a conversion, and still takes same-currency payments", async () => {
    const user = await enrol(fx, { balance: 1000 });
    assertProblem(await pay(fx, (await paymentRequest(fx, user, "level-2")).request), 503, "ERR_RATE_UNAVAILABLE", true);
    assert.equal((await pay(fx, (await paymentRequest(fx, user, "launch")).request)).status, 200);
    assertProblem(await http(fx, "GET", "/v1/rates"), 503, "ERR_RATE_UNAVAILABLE", true);
  });
});
