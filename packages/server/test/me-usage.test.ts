/**
 * What the user reads of their payments charged by use (GET /v1/me/payments), on both engines over
 * HTTP: a settled upto payment shows the maximum consented, what was used, what it cost and what
 * went back, also across currencies; one not settled yet, or whose settlement was forged, shows
 * none; another user's list does not show it.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { newSettlementKey, price, type Catalog } from "@peage/protocol";
import { enrol, ENGINES, http, pay, paymentRequest, startFixture, type Fixture, type TestUser } from "./helpers/fixture.js";
import { asUser, paymentIdOf } from "./helpers/mandates.js";
import { signUptoCatalog, uptoOffer } from "./helpers/upto.js";

for (const engine of ENGINES) {
  describe(`usage settlements in the user's payments (${engine})`, () => {
    let fx: Fixture;
    let upto: Catalog;
    before(async () => {
      fx = await startFixture({ engine });
      upto = await signUptoCatalog(fx, [
        ["eur", "Up to 5.00 EUR", price(500, "EUR")],
        ["usd", "Up to 2.50 USD", price(250, "USD")],
      ]);
    });
    after(async () => {
      await fx.close();
    });

    /** The user pays the upto offer `index` for its maximum; its id and what settles it. */
    async function payUpto(user: TestUser, index: number) {
      const entry = upto.offers[index]!;
      const { offer, key, inner } = uptoOffer(fx, entry);
      const answer = await pay(fx, (await paymentRequest(fx, user, "", { entry, mutateOffer: () => offer })).request);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      const id = paymentIdOf(answer);
      const settle = (used: number, withKey = key) =>
        http(fx, "POST", `/v1/payments/${id}/settlement`, {
          body: { terms: entry.terms, key: withKey, inner, used: price(used, entry.terms.price.currency) },
        });
      return { id, settle };
    }
    const listed = async (user: TestUser) => {
      const answer = await asUser(fx, user, "GET", "/v1/me/payments");
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      return new Map((answer.body.payments as { paymentId: string; usage?: unknown }[]).map((p) => [p.paymentId, p.usage]));
    };

    it("a settled payment shows the maximum, what was used and paid, and what went back; others show none", async () => {
      const user = await enrol(fx, { balance: 10_000 });
      const eur = await payUpto(user, 0);
      const usd = await payUpto(user, 1);
      const unsettled = await payUpto(user, 0);
      const plain = paymentIdOf(await pay(fx, (await paymentRequest(fx, user, "launch")).request));
      assert.equal((await eur.settle(120)).status, 200);
      assert.equal((await usd.settle(100)).status, 200);
      // A settlement with another key is refused and shows nothing.
      assert.equal((await unsettled.settle(0, newSettlementKey())).status, 403);

      const usage = await listed(user);
      const at = fx.clock.now().toISOString();
      assert.deepEqual(usage.get(eur.id), {
        maximum: price(500, "EUR"),
        used: price(120, "EUR"),
        charged: price(120, "EUR"),
        returned: price(380, "EUR"),
        settledAt: at,
      });
      // 2.50 USD charged 231 EUR (the fixture's rate); 1.00 USD used costs 231 × 100 / 250 = 92, rounded down.
      assert.deepEqual(usage.get(usd.id), {
        maximum: price(250, "USD"),
        used: price(100, "USD"),
        charged: price(92, "EUR"),
        returned: price(139, "EUR"),
        settledAt: at,
      });
      assert.ok(usage.has(unsettled.id) && usage.get(unsettled.id) === undefined);
      assert.ok(usage.has(plain) && usage.get(plain) === undefined);

      const other = await enrol(fx, { balance: 100 });
      assert.equal((await listed(other)).size, 0, "another user sees none of it");
    });
  });
}
