/**
 * The books over the operator API, on both engines: refunds (once, visible on both sides),
 * deposits that gate postpaid payments, SEPA mandates and publishers' bank details (checked with
 * the bank module), fees and exchange legs in the ledger, and the audit that finds a corrupted row.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { webcrypto } from "node:crypto";
import { generateKeyPair, price, type KeyPair } from "@peage/protocol";
import { createApiKey, parseEcbRateDays } from "../src/index.js";
import {
  admin,
  assertProblem,
  enrol,
  ENGINES,
  http,
  NOW,
  pay,
  paymentRequest,
  snapshot,
  startFixture,
  topUp,
  type Fixture,
} from "./helpers/fixture.js";
import { ecbXml } from "./helpers/books.js";

const paymentIdOf = (ack: { acknowledgment: string }) =>
  JSON.parse(Buffer.from(ack.acknowledgment.split(".")[1]!, "base64url").toString()).paymentId as string;

for (const engine of ENGINES) {
  describe(`books (${engine})`, () => {
    let fx: Fixture;
    before(async () => {
      fx = await startFixture({ engine, feeBasisPoints: 250 });
    });
    after(async () => {
      await fx.close();
    });

    const clean = async () => {
      const audit = await fx.store.auditLedger();
      assert.deepEqual(
        { ...audit, transactions: 0, postings: 0 },
        {
          transactions: 0,
          postings: 0,
          unbalanced: [],
          balanceMismatches: [],
          paymentMismatches: [],
          lateTransactions: [],
          settlementMismatches: [],
        },
      );
    };

    it("posts a payment as a balanced transaction: user debited, publisher credited the price less the fee, FX legs across currencies", async () => {
      const user = await enrol(fx, { balance: 10_000 });
      const publisher = fx.pki.publisher.identity;
      const answer = await pay(fx, (await paymentRequest(fx, user, "level-2")).request); // 2.50 USD
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      const id = paymentIdOf(answer.body);
      const [txn] = await fx.store
        .ledgerTransactions({ user: user.id, limit: 10, after: 0 })
        .then((all) => all.filter((t) => t.paymentId === id));
      assert.ok(txn);
      assert.equal(txn.kind, "payment");
      assert.equal(txn.period, "2026-03");
      // 250 USD cents at 1.0845: 231 euro cents; fee 2.5 % of 250 = 6.25, rounded down to 6.
      assert.deepEqual(
        [...txn.postings].sort((a, b) => (a.account + a.currency < b.account + b.currency ? -1 : 1)),
        [
          { account: `funds/${user.id}`, currency: "EUR", amount: 231 },
          { account: `payable/${publisher}`, currency: "USD", amount: -244 },
          { account: "server/fees", currency: "USD", amount: -6 },
          { account: "server/fx", currency: "EUR", amount: -231 },
          { account: "server/fx", currency: "USD", amount: 250 },
        ],
      );
      assert.equal((await snapshot(fx)).balances[user.id], 10_000 - 231);
      const [row] = await fx.raw.query<{ fee_minor: number }>("SELECT fee_minor FROM payments WHERE id = ?", [id]);
      assert.equal(row!.fee_minor, 6);
      await clean();
    });

    it("refunds a payment once: the user's balance and the publisher's payable go back, a second refund is 409 ERR_ALREADY_REFUNDED", async () => {
      const user = await enrol(fx, { balance: 1000 });
      const answer = await pay(fx, (await paymentRequest(fx, user, "launch")).request);
      const id = paymentIdOf(answer.body);
      const credit = `${fx.pki.publisher.identity} EUR`;
      const before = await snapshot(fx);
      const refund = await admin(fx, "POST", `/v1/admin/payments/${id}/refund`, {
        reason: "the program crashed before the level loaded",
      });
      assert.equal(refund.status, 201, JSON.stringify(refund.body));
      assert.equal(refund.body.paymentId, id);
      assert.deepEqual(refund.body.charged, price(100, "EUR"));
      assert.equal(refund.body.period, "2026-03");
      const after = await snapshot(fx);
      assert.equal(after.balances[user.id], 1000);
      assert.equal(
        after.credits[credit],
        before.credits[credit]! - (100 - 2),
        "the publisher gives back its credit (price less the 2.5 % fee)",
      );
      assert.equal(after.counts["refunds"], before.counts["refunds"]! + 1);

      const again = await admin(fx, "POST", `/v1/admin/payments/${id}/refund`, { reason: "again" });
      assertProblem(again, 409, "ERR_ALREADY_REFUNDED", false);
      assert.match(again.body.detail, new RegExp(refund.body.refundId));
      assert.deepEqual(await snapshot(fx), after);
      assertProblem(await admin(fx, "POST", "/v1/admin/payments/pay_nothing/refund", { reason: "x" }), 404, "ERR_NOT_FOUND");
      assertProblem(await admin(fx, "POST", `/v1/admin/payments/${id}/refund`, {}), 400, "ERR_MALFORMED");
      const reader = await createApiKey(fx.store, ["payments:read"], "reader");
      assertProblem(
        await http(fx, "POST", `/v1/admin/payments/${id}/refund`, {
          body: { reason: "x" },
          headers: { authorization: `Bearer ${reader}` },
        }),
        403,
        "ERR_FORBIDDEN",
      );
      await clean();
    });

    it("refunds sent at the same time refund once", async () => {
      const user = await enrol(fx, { balance: 1000 });
      const id = paymentIdOf((await pay(fx, (await paymentRequest(fx, user, "launch")).request)).body);
      const answers = await Promise.all(
        Array.from({ length: 8 }, () => admin(fx, "POST", `/v1/admin/payments/${id}/refund`, { reason: "race" })),
      );
      assert.equal(answers.filter((a) => a.status === 201).length, 1);
      assert.equal(answers.filter((a) => a.status === 409 && a.body.code === "ERR_ALREADY_REFUNDED").length, 7);
      assert.equal((await snapshot(fx)).balances[user.id], 1000);
      await clean();
    });

    it("a postpaid refund lowers the month's use, so the limit allows another payment", async () => {
      const user = await enrol(fx, { mode: "postpaid", limit: 200 });
      const first = await pay(fx, (await paymentRequest(fx, user)).request);
      assert.equal((await pay(fx, (await paymentRequest(fx, user)).request)).status, 200);
      assertProblem(await pay(fx, (await paymentRequest(fx, user)).request), 402, "ERR_LIMIT_EXCEEDED");
      assert.equal(
        (await admin(fx, "POST", `/v1/admin/payments/${paymentIdOf(first.body)}/refund`, { reason: "duplicate purchase" }))
          .status,
        201,
      );
      assert.deepEqual((await admin(fx, "GET", `/v1/admin/users/${user.id}`)).body.usedThisMonth, price(100, "EUR"));
      assert.equal((await pay(fx, (await paymentRequest(fx, user)).request)).status, 200);
      await clean();
    });

    it("refuses a postpaid account's payments until its deposit is paid in full", async () => {
      const enrolled = await admin(fx, "POST", "/v1/admin/users", {
        user: `urn:peage:user:deposit-${engine}`,
        publicKey: await exportedKey(),
        mode: "postpaid",
        homeCurrency: "EUR",
        monthlyLimit: 5000,
        depositRequired: 2000,
      });
      assert.equal(enrolled.status, 201, JSON.stringify(enrolled.body));
      assert.deepEqual(enrolled.body.depositRequired, price(2000, "EUR"));
      assert.deepEqual(enrolled.body.deposit, price(0, "EUR"));
      const user = { id: enrolled.body.user, key: lastKey! };
      const before = await snapshot(fx);
      assertProblem(await pay(fx, (await paymentRequest(fx, user)).request), 402, "ERR_DEPOSIT_REQUIRED", false);
      assert.deepEqual(await snapshot(fx), before);
      const partial = await admin(fx, "POST", `/v1/admin/users/${user.id}/deposits`, {
        amount: 1500,
        idempotencyKey: `deposit-a-${engine}`,
      });
      assert.equal(partial.status, 201, JSON.stringify(partial.body));
      assertProblem(await pay(fx, (await paymentRequest(fx, user)).request), 402, "ERR_DEPOSIT_REQUIRED");
      assert.equal(
        (await admin(fx, "POST", `/v1/admin/users/${user.id}/deposits`, { amount: 500, idempotencyKey: `deposit-b-${engine}` }))
          .status,
        201,
      );
      assert.equal(
        (await admin(fx, "POST", `/v1/admin/users/${user.id}/deposits`, { amount: 500, idempotencyKey: `deposit-b-${engine}` }))
          .status,
        200,
        "idempotent",
      );
      assert.equal((await pay(fx, (await paymentRequest(fx, user)).request)).status, 200);
      assert.deepEqual((await admin(fx, "GET", `/v1/admin/users/${user.id}`)).body.deposit, price(2000, "EUR"));
      const prepaid = await enrol(fx);
      assertProblem(
        await admin(fx, "POST", `/v1/admin/users/${prepaid.id}/deposits`, { amount: 5, idempotencyKey: `deposit-c-${engine}` }),
        409,
        "ERR_CONFLICT",
      );
      assertProblem(
        await admin(fx, "POST", "/v1/admin/users", {
          user: "urn:peage:user:prepaid-deposit",
          publicKey: await exportedKey(),
          mode: "prepaid",
          homeCurrency: "EUR",
          depositRequired: 10,
        }),
        400,
        "ERR_MALFORMED",
      );
      await clean();
    });

    it("records a SEPA mandate for a postpaid euro account, with the IBAN and BIC checked", async () => {
      const user = await enrol(fx, { mode: "postpaid", limit: 1000 });
      const mandate = {
        mandateId: "PEAGE-MANDATE-0001",
        signedOn: "2026-02-01",
        name: "Alice Martin",
        iban: "DE89 3704 0044 0532 0130 00",
        bic: "COBADEFFXXX",
      };
      const saved = await admin(fx, "PUT", `/v1/admin/users/${user.id}/mandate`, mandate);
      assert.equal(saved.status, 200, JSON.stringify(saved.body));
      assert.deepEqual(saved.body.mandate, {
        id: "PEAGE-MANDATE-0001",
        signedOn: "2026-02-01",
        name: "Alice Martin",
        iban: "DE89370400440532013000",
        bic: "COBADEFFXXX",
      });
      const bad: [Record<string, unknown>, number, string, RegExp][] = [
        [{ iban: "DE89370400440532013001" }, 400, "ERR_MALFORMED", /iban/],
        [{ iban: "US12345678901234567" }, 400, "ERR_MALFORMED", /iban/],
        [{ bic: "NOTABIC!" }, 400, "ERR_MALFORMED", /bic/],
        [{ signedOn: "2027-01-01" }, 400, "ERR_MALFORMED", /signedOn/],
        [{ signedOn: "2026-02-30" }, 400, "ERR_MALFORMED", /signedOn/],
        [{ mandateId: "has spaces in it" }, 400, "ERR_MALFORMED", /mandateId/],
      ];
      for (const [override, status, code, detail] of bad) {
        const answer = await admin(fx, "PUT", `/v1/admin/users/${user.id}/mandate`, { ...mandate, ...override });
        assertProblem(answer, status, code);
        assert.match(answer.body.detail, detail);
      }
      const prepaid = await enrol(fx);
      assertProblem(await admin(fx, "PUT", `/v1/admin/users/${prepaid.id}/mandate`, mandate), 409, "ERR_CONFLICT");
      const dollars = await enrol(fx, { mode: "postpaid", limit: 100, currency: "USD" });
      assertProblem(await admin(fx, "PUT", `/v1/admin/users/${dollars.id}/mandate`, mandate), 409, "ERR_CONFLICT");
      assert.equal((await admin(fx, "GET", `/v1/admin/users/${user.id}`)).body.mandate.iban, "DE89370400440532013000");
    });

    it("registers publishers with their bank details, checked, and lists them", async () => {
      const id = `urn:peage:publisher:studio-${engine}`;
      const created = await admin(fx, "PUT", `/v1/admin/publishers/${id}`, {
        name: "Studio Nord",
        country: "NL",
        iban: "NL91ABNA0417164300",
        bic: "ABNANL2A",
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body.iban, "NL91ABNA0417164300");
      const updated = await admin(fx, "PUT", `/v1/admin/publishers/${id}`, {
        name: "Studio Nord BV",
        country: "NL",
        iban: "NL91 ABNA 0417 1643 00",
      });
      assert.equal(updated.status, 200);
      assert.equal(updated.body.name, "Studio Nord BV");
      assert.equal(updated.body.bic, undefined);
      assert.equal(updated.body.createdAt, created.body.createdAt);
      for (const body of [
        { name: "X", country: "NL", iban: "NL91ABNA0417164301" },
        { name: "X", country: "ZZ" },
        { name: "X", country: "NL", iban: "NL91ABNA0417164300", bic: "ABN" },
        { name: "X", country: "NL", bic: "ABNANL2A" },
      ]) {
        assertProblem(await admin(fx, "PUT", `/v1/admin/publishers/${id}`, body), 400, "ERR_MALFORMED");
      }
      assert.equal((await admin(fx, "GET", `/v1/admin/publishers/${id}`)).body.name, "Studio Nord BV");
      assertProblem(await admin(fx, "GET", "/v1/admin/publishers/urn:peage:publisher:nobody"), 404, "ERR_NOT_FOUND");
      assert.ok(
        (await admin(fx, "GET", "/v1/admin/publishers")).body.publishers.some((p: { publisher: string }) => p.publisher === id),
      );
      assertProblem(
        await admin(fx, "PUT", "/v1/admin/publishers/urn:peage:user:not-a-publisher", { name: "X", country: "NL" }),
        400,
        "ERR_MALFORMED",
      );
    });

    it("registers a domestic account and a payout currency, each field checked by its country's rules", async () => {
      const id = `urn:peage:publisher:acme-${engine}`;
      const us = { country: "US", routingNumber: "021000021", accountNumber: "0001 2345 6789", accountType: "checking" };
      const created = await admin(fx, "PUT", `/v1/admin/publishers/${id}`, {
        name: "Acme Software Inc",
        country: "US",
        domestic: us,
        payoutCurrency: "USD",
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.deepEqual(created.body.domestic, { ...us, accountNumber: "000123456789" });
      assert.equal(created.body.payoutCurrency, "USD");
      assert.equal(created.body.iban, undefined);
      const refusals: [unknown, RegExp][] = [
        [{ domestic: { ...us, routingNumber: "021000022" } }, /^domestic\.routingNumber: wrong check digit \(ABA/],
        [{ domestic: { ...us, accountType: "current" } }, /^domestic\.accountType: the account type is "checking" or "savings"/],
        [{ domestic: { ...us, bsb: "062000" } }, /^domestic\.bsb: a US account has no bsb/],
        [
          { domestic: { country: "IN", ifsc: "HDFC1000123", accountNumber: "12" } },
          /ifsc: the fifth character.*; domestic\.accountNumber: the account number has 9 to 18 digits/,
        ],
        [
          { domestic: { country: "GB", accountNumber: "12345678" } },
          /^domestic\.country: "GB" is not a country whose domestic accounts can be paid.*give an IBAN/,
        ],
        [{ domestic: us, iban: "GB29NWBK60161331926819" }, /an IBAN and a domestic account/],
        [{ domestic: us, payoutCurrency: "XYZ" }, /^payoutCurrency: XYZ is not an active ISO 4217 currency code/],
        [{ iban: "GB29NWBK60161331926819", payoutCurrency: "usd" }, /payoutCurrency/],
      ];
      for (const [extra, message] of refusals) {
        const answer = await admin(fx, "PUT", `/v1/admin/publishers/${id}`, { name: "X", country: "US", ...(extra as object) });
        assertProblem(answer, 400, "ERR_MALFORMED");
        assert.match(answer.body.detail, message);
      }
      // Nothing refused changed the record.
      const shown = (await admin(fx, "GET", `/v1/admin/publishers/${id}`)).body;
      assert.equal(shown.name, "Acme Software Inc");
      assert.deepEqual(shown.domestic, { ...us, accountNumber: "000123456789" });
      const openapi = (await http(fx, "GET", "/openapi.json")).body;
      const request = openapi.components.schemas.PublisherRequest.properties;
      assert.deepEqual(Object.keys(request.domestic.properties).slice(0, 2), ["country", "routingNumber"]);
      assert.equal(request.payoutCurrency.pattern, "^[A-Z]{3}$");
      assert.ok(openapi.components.schemas.Publisher.properties.payoutCurrency);
    });

    it("converts with the imported rates of the latest day on or before the payment's date, and records that day", async () => {
      // Days after the fixture's rates file (2026-03-09, USD 1.0845), as the ECB publishes them.
      const days = parseEcbRateDays(ecbXml({ "2026-03-11": { USD: "1.0800" }, "2026-03-13": { USD: "1.0700" } }));
      await fx.store.importRates(days, "hist.xml", NOW.toISOString());
      const user = await enrol(fx, { balance: 100_000 });
      const start = fx.clock.now();
      try {
        for (const [at, rateDate, charged] of [
          ["2026-03-12T12:00:00.000Z", "2026-03-11", 231], // 250 / 1.0800 = 231.48
          ["2026-03-13T00:00:00.000Z", "2026-03-13", 234], // 250 / 1.0700 = 233.64
          ["2026-03-10T12:00:00.000Z", "2026-03-09", 231], // no imported day on or before: the rates file's (250 / 1.0845 = 230.52)
        ] as const) {
          fx.clock.set(new Date(at));
          const answer = await pay(fx, (await paymentRequest(fx, user, "level-2")).request);
          assert.equal(answer.status, 200, JSON.stringify(answer.body));
          const [row] = await fx.raw.query<{ rate_date: string; charged_amount: number }>(
            "SELECT rate_date, charged_amount FROM payments WHERE id = ?",
            [paymentIdOf(answer.body)],
          );
          assert.deepEqual([row!.rate_date, row!.charged_amount], [rateDate, charged], at);
        }
      } finally {
        fx.clock.set(start);
      }
    });

    it("the audit finds an unbalanced posting and a balance that is not the sum of its postings", async () => {
      await clean();
      const user = await enrol(fx, { balance: 500 });
      await topUp(fx, user.id, 1);
      // Rows written behind the server's back, as a broken tool or an attacker with the database would.
      const [txn] = await fx.raw.query<{ seq: number }>("SELECT MAX(seq) AS seq FROM ledger_transactions");
      await fx.raw.query("INSERT INTO postings (txn_seq, account, currency, amount) VALUES (?, 'server/fees', 'EUR', -7)", [
        txn!.seq,
      ]);
      await fx.raw.query("UPDATE users SET balance_minor = balance_minor + 1000 WHERE id = ?", [user.id]);
      const audit = await fx.store.auditLedger();
      assert.equal(audit.unbalanced.length, 1);
      assert.equal(audit.unbalanced[0]!.sum, "-7");
      assert.deepEqual(audit.balanceMismatches, [
        { user: user.id, account: `funds/${user.id}`, stored: "1501", postings: "501" },
      ]);
      // Put the balance back; the stray posting is append-only and stays, so balance it out the same way.
      await fx.raw.query("UPDATE users SET balance_minor = balance_minor - 1000 WHERE id = ?", [user.id]);
      await fx.raw.query("INSERT INTO postings (txn_seq, account, currency, amount) VALUES (?, 'server/fx', 'EUR', 7)", [
        txn!.seq,
      ]);
      await clean();
    });
  });
}

/** A new user key as a public JWK; the pair is kept in lastKey for the consents. */
let lastKey: KeyPair | undefined;
async function exportedKey(): Promise<JsonWebKey> {
  lastKey = await generateKeyPair("ES256");
  return webcrypto.subtle.exportKey("jwk", lastKey.publicKey);
}
