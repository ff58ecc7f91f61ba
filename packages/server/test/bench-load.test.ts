/**
 * The benchmarks' load generator (bench/http-load.ts) against a real server: it counts a payment
 * only for a 200 whose acknowledgment carries that very request's nonce, so a benchmark cannot
 * report as payments answers that were refusals or acknowledgments of other requests; and its
 * sampled full check fails an acknowledgment held against the wrong offer.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { webcrypto, type JsonWebKey } from "node:crypto";
import {
  createDemoPki,
  createOffer,
  createPaymentRequest,
  generateKeyPair,
  price,
  signCatalog,
  systemClock,
  verifyAcknowledgment,
  type DemoPki,
  type KeyPair,
  type Offer,
  type PartyId,
} from "@peage/protocol";
import { startRealServer, type RealServer } from "../src/testing.js";
import { acknowledges, AnswerSample, PaymentClient, preparePayment, type PreparedPayment } from "../bench/http-load.js";
import { RATES } from "./helpers/fixture.js";

const USER = "urn:peage:user:load" as PartyId<"user">;
/** A user whose balance pays for nothing: their payments are refused. */
const POOR = "urn:peage:user:load-poor" as PartyId<"user">;

describe("the benchmarks' load generator", () => {
  let pki: DemoPki;
  let server: RealServer;
  let keys: Map<PartyId<"user">, KeyPair>;
  let offers: () => Offer;

  before(async () => {
    pki = await createDemoPki();
    server = await startRealServer(pki, RATES);
    keys = new Map([
      [USER, await generateKeyPair("ES256")],
      [POOR, await generateKeyPair("ES256")],
    ]);
    for (const [user, key] of keys)
      await server.enrol(
        user,
        (await webcrypto.subtle.exportKey("jwk", key.publicKey)) as JsonWebKey,
        "EUR",
        user === POOR ? 0 : 100_000,
      );
    const catalog = await signCatalog(
      pki.publisher.identity,
      [{ offerId: "launch", description: "One launch", price: price(100, "EUR"), grant: { kind: "launch" } }],
      pki.publisher.keys,
      pki.chainOf(pki.publisher.certificate),
    );
    offers = () => createOffer(catalog.offers[0]!, systemClock);
  });
  after(() => server.close());

  const prepare = async (user = USER): Promise<PreparedPayment> => {
    const offer = offers();
    const userKey = keys.get(user)!;
    const request = await createPaymentRequest({ offer, user, server: pki.server.identity, userKey, clock: systemClock });
    return preparePayment(request, offer);
  };
  /** The answer's body, through another client than the one under test; it must be a 200. */
  const payByFetch = async (payment: PreparedPayment): Promise<Buffer> => {
    const response = await fetch(`${server.url}/v1/payments`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: new Uint8Array(payment.body),
    });
    assert.equal(response.status, 200);
    return Buffer.from(await response.arrayBuffer());
  };
  const check =
    (trust = pki.trustStore()) =>
    async (answer: unknown, offer: Offer) =>
      (await verifyAcknowledgment(answer, offer, { trust, clock: systemClock, server: pki.server.identity })).ok;

  it("counts acknowledgments of its requests, refusals as refusals, and checks a sample in full", async () => {
    const sample = new AnswerSample(1);
    const client = new PaymentClient(server.url, 2, sample);
    try {
      const [first, second, third] = [await prepare(), await prepare(), await prepare(POOR)];
      assert.deepEqual(await Promise.all([client.post(first), client.post(second)]), ["acknowledged", "acknowledged"]);
      // Sent again, the same request is answered with the same acknowledgment (an idempotent retry).
      assert.equal(await client.post(first), "acknowledged");
      assert.equal(await client.post(third), "refused");
      assert.deepEqual([...client.problems.keys()], ["refused (HTTP 402)"]);
      assert.match(client.problems.get("refused (HTTP 402)")!.first, /insufficient-funds/);
      assert.equal(await sample.drain(check()), 0);
      assert.equal(sample.verified, 3);
    } finally {
      client.close();
    }
  });

  it("does not take an acknowledgment of another request, or what is not one, for an answer to this request", async () => {
    const mine = await prepare();
    const other = await prepare();
    const body = await payByFetch(other);
    assert.equal(acknowledges(body, other.nonceClaim), true);
    assert.equal(acknowledges(body, mine.nonceClaim), false);
    const ack = JSON.parse(body.toString("utf8")) as { acknowledgment: string };
    const [header, , signature] = ack.acknowledgment.split(".");
    // The request's nonce outside the signed payload (in the header, or beside the token) does not count.
    const nonce = mine.nonceClaim.toString("utf8");
    const elsewhere = [
      `{"acknowledgment":"${header}.${Buffer.from(`{${nonce}}`).toString("base64url")}"}`,
      `{"note":{${nonce}},"acknowledgment":"${ack.acknowledgment}"}`,
      `{"acknowledgment":"${Buffer.from(`{${nonce},"paymentId":"p"}`).toString("base64url")}.${signature}"}`,
    ];
    for (const forged of elsewhere) assert.equal(acknowledges(Buffer.from(forged), mine.nonceClaim), false, forged);
  });

  it("fails, in its sampled full check, an acknowledgment held against another offer", async () => {
    const sample = new AnswerSample(1);
    const paid = await prepare();
    const body = await payByFetch(paid);
    sample.offer(body, { ...paid, offer: offers() });
    assert.equal(await sample.drain(check()), 1);
    assert.deepEqual([sample.verified, sample.failed], [0, 1]);
  });
});
