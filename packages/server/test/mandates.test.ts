/**
 * Spending mandates at the payment server, on both engines: a mandate the user signed is
 * registered, an agent pays under it with its own key, and every limit holds, the budget and count
 * exactly under 200 racing payments. Then what an attacker would try: another key, another user's
 * mandate, a payee not allowed, above the maximum, expired, revoked, a replayed nonce, an altered
 * mandate or consent; each refused with its own code, and nothing recorded.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  createMandate,
  createMandatePayment,
  createOffer,
  FixedClock,
  generateKeyPair,
  type KeyPair,
  type Mandate,
  type MandateClaims,
  type PartyId,
} from "@peage/protocol";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PaymentRecord, Store } from "../src/index.js";
import { openSqliteOnThread } from "../src/store/sqlite-thread.js";
import { Books, eur } from "./helpers/books.js";
import { asUser as signedAs, claimsOf, setUpMandate, signMandate, type Limits } from "./helpers/mandates.js";
import {
  assertProblem,
  enrol,
  ENGINES,
  http,
  snapshot,
  startFixture,
  type Fixture,
  type HttpAnswer,
  type TestUser,
} from "./helpers/fixture.js";

const HOUR = 3_600_000;
const PRICE = 100; // the "launch" offer: 1.00 EUR

for (const engine of ENGINES) {
  describe(`spending mandates (${engine})`, () => {
    let fx: Fixture;
    before(async () => {
      fx = await startFixture({ engine });
    });
    after(async () => {
      await fx.close();
    });

    const sign = (user: TestUser, agent: KeyPair, limits: Limits = {}, signer: KeyPair = user.key): Promise<Mandate> =>
      signMandate(fx, user, agent, limits, signer);
    const register = (mandate: unknown) => http(fx, "POST", "/v2/mandates", { body: mandate });

    async function agentRequest(mandate: Mandate, agent: KeyPair, offerId = "launch") {
      const offer = createOffer(fx.entry(offerId), fx.clock);
      return createMandatePayment({ offer, mandate: claimsOf(mandate), agentKey: agent, clock: fx.clock });
    }
    const payUnder = (request: unknown) => http(fx, "POST", "/v2/mandate-payments", { body: request });
    const asUser = (user: TestUser, method: string, path: string): Promise<HttpAnswer> => signedAs(fx, user, method, path);
    const setUp = (limits: Limits = {}, balance = 1_000_000) => setUpMandate(fx, limits, balance);

    async function race(limits: Limits, covered: number, code: string): Promise<void> {
      const { user, agent, mandate, id } = await setUp(limits);
      const requests = await Promise.all(Array.from({ length: 200 }, () => agentRequest(mandate, agent)));
      const before = await snapshot(fx);
      const answers = await Promise.all(requests.map(payUnder));
      const paid = answers.filter((a) => a.status === 200);
      assert.equal(paid.length, covered, JSON.stringify(answers.find((a) => a.status !== 200 && a.body.code !== code)?.body));
      for (const answer of answers.filter((a) => a.status !== 200)) assertProblem(answer, 402, code, false);
      const after = await snapshot(fx);
      assert.equal(after.counts["payments"], before.counts["payments"]! + covered);
      assert.equal(after.balances[user.id], before.balances[user.id]! - covered * PRICE);
      const [use] = await fx.raw.query<{ spent: number; payments: number }>(
        "SELECT spent, payments FROM agent_mandate_usage WHERE mandate_id = ?",
        [id],
      );
      assert.deepEqual(use, { spent: covered * PRICE, payments: covered });
      const linked = await fx.raw.query("SELECT payment_id FROM agent_mandate_payments WHERE mandate_id = ?", [id]);
      assert.equal(linked.length, covered);
    }

    it("200 racing payments against a budget for 37: exactly 37 acknowledged, the rest ERR_MANDATE_BUDGET_EXCEEDED", async () => {
      await race({ budget: 37 * PRICE, maxPerPayment: PRICE }, 37, "ERR_MANDATE_BUDGET_EXCEEDED");
    });

    it("200 racing payments against a count of 25 a day: exactly 25 acknowledged, the rest ERR_MANDATE_COUNT_EXCEEDED", async () => {
      await race({ maxPayments: 25, period: "day" }, 25, "ERR_MANDATE_COUNT_EXCEEDED");
    });

    it("an agent's payment is message 3 as any other, and the user's lists say which mandate paid it", async () => {
      const { user, agent, mandate, id } = await setUp({ budget: 500, maxPerPayment: 500, maxPayments: 3, period: "month" });
      const answer = await payUnder(await agentRequest(mandate, agent));
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.body.type, "peage.acknowledgment");
      const ack = JSON.parse(Buffer.from(answer.body.acknowledgment.split(".")[1], "base64url").toString());
      assert.equal(ack.v, 1);
      assert.equal(ack.user, user.id);

      const list = await asUser(user, "GET", "/v2/me/mandates");
      assert.equal(list.status, 200, JSON.stringify(list.body));
      assert.equal(list.body.mandates.length, 1);
      assert.equal(list.body.mandates[0].mandateId, id);
      assert.equal(list.body.mandates[0].status, "active");
      assert.deepEqual(list.body.mandates[0].current, {
        periodKey: "2026-03",
        spent: { amount: PRICE, currency: "EUR" },
        payments: 1,
      });
      const payments = await asUser(user, "GET", "/v2/me/mandate-payments");
      assert.deepEqual(payments.body.payments, [{ paymentId: ack.paymentId, mandateId: id, periodKey: "2026-03" }]);
    });

    it("the same mandate registered twice is one mandate; another one with its id is ERR_CONFLICT", async () => {
      const { user, agent, mandate, id } = await setUp();
      const again = await register(mandate);
      assert.equal(again.status, 200);
      assert.equal(again.body.mandateId, id);
      const other = await createMandate({
        ...claimsOf(mandate),
        user: user.id,
        server: fx.pki.server.identity,
        agent: agent.publicKey,
        payees: [fx.pki.publisher.identity],
        expiresAt: new Date(fx.clock.now().getTime() + HOUR),
        clock: fx.clock,
        userKey: user.key,
      });
      assertProblem(await register(other), 409, "ERR_CONFLICT");
    });

    it("a mandate in another currency than the account's is refused at registration", async () => {
      const user = await enrol(fx, { balance: 1000 });
      const mandate = await sign(user, await generateKeyPair(), { currency: "USD" });
      assertProblem(await register(mandate), 400, "ERR_BAD_REQUEST");
    });

    it("an agent key that is not the mandate's pays nothing (ERR_UNKNOWN_KEY)", async () => {
      const { mandate } = await setUp();
      const thief = await generateKeyPair("ES256");
      const before = await snapshot(fx);
      assertProblem(await payUnder(await agentRequest(mandate, thief)), 422, "ERR_UNKNOWN_KEY");
      assert.deepEqual((await snapshot(fx)).counts, before.counts);
    });

    it("a mandate for another user, signed with the attacker's key, is not registered", async () => {
      const victim = await enrol(fx, { balance: 100_000 });
      const attacker = await enrol(fx, { balance: 0 });
      const agent = await generateKeyPair();
      // The victim's name, the attacker's key and kid: no such key is enrolled for the victim.
      assertProblem(await register(await sign(victim, agent, {}, attacker.key)), 422, "ERR_UNKNOWN_KEY");
      // The victim's name and kid, the attacker's signature: it does not verify.
      const forged = await sign(victim, agent, {}, attacker.key);
      const good = await sign(victim, agent);
      const [header] = good.mandate.split(".");
      const [, payload, signature] = forged.mandate.split(".");
      assertProblem(await register({ ...forged, mandate: `${header}.${payload}.${signature}` }), 422, "ERR_BAD_SIGNATURE");
      const count = await fx.raw.query("SELECT id FROM agent_mandates WHERE user_id = ?", [victim.id]);
      assert.equal(count.length, 0);
    });

    it("an altered mandate (a larger budget) and an altered consent (another price) are ERR_BAD_SIGNATURE", async () => {
      const user = await enrol(fx, { balance: 100_000 });
      const agent = await generateKeyPair();
      const mandate = await sign(user, agent, { budget: 1000 });
      const [header, payload, signature] = mandate.mandate.split(".");
      const claims = JSON.parse(Buffer.from(payload!, "base64url").toString());
      claims.budget.amount = 1_000_000;
      const altered = Buffer.from(JSON.stringify(sortKeys(claims))).toString("base64url");
      assertProblem(await register({ ...mandate, mandate: `${header}.${altered}.${signature}` }), 422, "ERR_BAD_SIGNATURE");

      assert.equal((await register(mandate)).status, 201);
      const request = await agentRequest(mandate, agent);
      const [ch, cp, cs] = request.consent.split(".");
      const consent = JSON.parse(Buffer.from(cp!, "base64url").toString());
      consent.nonce = "A".repeat(22);
      const changed = Buffer.from(JSON.stringify(sortKeys(consent))).toString("base64url");
      assertProblem(await payUnder({ ...request, consent: `${ch}.${changed}.${cs}` }), 422, "ERR_BAD_SIGNATURE");
    });

    it("a payee the mandate does not allow is ERR_MANDATE_PAYEE_NOT_ALLOWED", async () => {
      const { agent, mandate } = await setUp({ payees: ["urn:peage:publisher:someone-else" as PartyId<"publisher">] });
      const before = await snapshot(fx);
      assertProblem(await payUnder(await agentRequest(mandate, agent)), 403, "ERR_MANDATE_PAYEE_NOT_ALLOWED");
      assert.deepEqual((await snapshot(fx)).counts, before.counts);
    });

    it("a price above the maximum per payment is ERR_MANDATE_MAX_EXCEEDED, counted in the charged currency", async () => {
      const { agent, mandate } = await setUp({ maxPerPayment: 1000, budget: 100_000 });
      assertProblem(await payUnder(await agentRequest(mandate, agent, "big")), 402, "ERR_MANDATE_MAX_EXCEEDED");
      // 2.50 USD converts to 2.31 EUR: within 10.00 EUR.
      assert.equal((await payUnder(await agentRequest(mandate, agent, "level-2"))).status, 200);
    });

    it("an expired mandate pays nothing (ERR_MANDATE_EXPIRED)", async () => {
      const { agent, mandate } = await setUp({ expiresInMs: HOUR });
      const start = fx.clock.now();
      try {
        fx.clock.advance(HOUR);
        assertProblem(await payUnder(await agentRequest(mandate, agent)), 403, "ERR_MANDATE_EXPIRED");
      } finally {
        fx.clock.set(start);
      }
    });

    it("a revoked mandate pays nothing; only its user can revoke it", async () => {
      const { user, agent, mandate, id } = await setUp();
      const stranger = await enrol(fx);
      assertProblem(await asUser(stranger, "POST", `/v2/me/mandates/${id}/revoke`), 404, "ERR_UNKNOWN_MANDATE");
      assert.equal((await payUnder(await agentRequest(mandate, agent))).status, 200);
      const revoked = await asUser(user, "POST", `/v2/me/mandates/${id}/revoke`);
      assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
      assert.equal(revoked.body.status, "revoked");
      const before = await snapshot(fx);
      assertProblem(await payUnder(await agentRequest(mandate, agent)), 403, "ERR_MANDATE_REVOKED");
      assert.deepEqual((await snapshot(fx)).counts, before.counts);
      assert.equal((await asUser(user, "POST", `/v2/me/mandates/${id}/revoke`)).status, 200, "revoking twice changes nothing");
    });

    it("the same request again is answered once; another request with its nonce is ERR_NONCE_REUSED", async () => {
      const { user, agent, mandate, id } = await setUp();
      const offer = createOffer(fx.entry("launch"), fx.clock);
      const first = await createMandatePayment({ offer, mandate: claimsOf(mandate), agentKey: agent, clock: fx.clock });
      const paid = await payUnder(first);
      assert.equal(paid.status, 200);
      const again = await payUnder(first);
      assert.equal(again.status, 200);
      assert.equal(again.body.acknowledgment, paid.body.acknowledgment);
      const second = await createMandatePayment({ offer, mandate: claimsOf(mandate), agentKey: agent, clock: fx.clock });
      assertProblem(await payUnder(second), 409, "ERR_NONCE_REUSED");
      const [use] = await fx.raw.query<{ payments: number }>("SELECT payments FROM agent_mandate_usage WHERE mandate_id = ?", [
        id,
      ]);
      assert.equal(use!.payments, 1);
      const [row] = await fx.raw.query<{ b: number }>("SELECT balance_minor AS b FROM users WHERE id = ?", [user.id]);
      assert.equal(Number(row!.b), 1_000_000 - PRICE);
    });

    it("a mandate id nobody registered is ERR_UNKNOWN_KEY", async () => {
      const user = await enrol(fx, { balance: 1000 });
      const agent = await generateKeyPair();
      const unregistered = await sign(user, agent);
      assertProblem(await payUnder(await agentRequest(unregistered, agent)), 422, "ERR_UNKNOWN_KEY");
    });
  });
}

describe("spending mandates on the SQLite writer thread, as the server runs its store", () => {
  let dir: string;
  let store: Store;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "peage-mandate-thread-"));
    store = await openSqliteOnThread(join(dir, "peage.db"));
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("every operation crosses to the writer; 25 racing payments against a budget for 7 record exactly 7", async () => {
    const books = new Books(store);
    const user = await books.user("thread-mandates");
    await books.topUp(user, 100_000);
    const agent = await generateKeyPair();
    const mandate = await createMandate({
      user,
      server: "urn:peage:server:pay-eu" as PartyId<"server">,
      agent: agent.publicKey,
      payees: ["urn:peage:publisher:p" as PartyId<"publisher">],
      maxPerPayment: eur(100),
      budget: eur(700),
      maxPayments: 100,
      period: "total",
      expiresAt: new Date("2026-04-01T00:00:00.000Z"),
      clock: new FixedClock(new Date("2026-03-01T00:00:00.000Z")),
      userKey: agent,
    });
    const claims = JSON.parse(Buffer.from(mandate.mandate.split(".")[1]!, "base64url").toString()) as MandateClaims;
    const id = claims.mandateId;
    const registered = await store.mandates("registerMandate", {
      id,
      user,
      agentKid: "kid",
      token: mandate.mandate,
      claims,
      registeredAt: "2026-03-01T00:00:00.000Z",
    });
    assert.equal(registered.kind, "registered");
    const record = (n: number): PaymentRecord => ({
      id: `pay_thread_${n}`,
      user,
      publisher: "urn:peage:publisher:p" as PartyId<"publisher">,
      offerHash: `hash-${n}`,
      price: eur(100),
      charged: eur(100),
      rate: "1.0000000000",
      rateDate: undefined,
      nonce: `thread-nonce-${n}-0000000000000`,
      offerDate: "2026-03-02T10:00:00.000Z",
      serverTime: "2026-03-02T10:00:00.000Z",
      requestHash: `request-${n}`,
      acknowledgment: { type: "peage.acknowledgment", v: 1, acknowledgment: `ack-${n}` },
    });
    const outcomes = await Promise.all(
      Array.from({ length: 25 }, (_, n) => store.mandates("recordMandatePayment", record(n), id, "total")),
    );
    assert.equal(outcomes.filter((o) => o.kind === "recorded").length, 7);
    assert.ok(outcomes.every((o) => o.kind === "recorded" || o.kind === "budget-exceeded"));
    assert.equal((await store.getUser(user))?.balance, 100_000 - 700);
    const feed = await store.mandates("mandatePaymentsAfter", user, 0, 100);
    assert.deepEqual(
      feed.map((p) => p.position),
      [1, 2, 3, 4, 5, 6, 7],
    );
    const [listed] = await store.mandates("listMandates", user);
    assert.deepEqual(listed?.usage, [{ periodKey: "total", spent: 700, payments: 7 }]);
    assert.equal((await store.mandates("revokeMandate", user, id, "2026-03-03T00:00:00.000Z")).kind, "revoked");
    assert.equal((await store.mandates("recordMandatePayment", record(99), id, "total")).kind, "mandate-revoked");
  });
});

/** Members in JCS order (the claims hold plain ASCII keys), so that an altered payload stays canonical. */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === "object")
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  return value;
}
