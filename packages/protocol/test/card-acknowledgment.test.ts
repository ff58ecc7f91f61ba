/**
 * Message 3 signed by a smart card (offline variant, claims 6-7): the `server` claim is the
 * card, the chain runs through its issuing server's card-issuer CA, and the optional `debit`
 * field carries the proof of the debit. The merchant accepts it like a server's, counts it as the
 * issuing server's, and refuses every mix of card and server identities, chains and claims.
 */
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import {
  AcknowledgmentClaimsSchema,
  createDemoPki,
  createOffer,
  createPaymentRequest,
  FixedClock,
  generateKeyPair,
  issueCertificate,
  JwsTypes,
  parser,
  partyId,
  price,
  signAcknowledgment,
  signCatalog,
  signJws,
  verifyAcknowledgment,
  type Acknowledgment,
  type AcknowledgmentCheckOptions,
  type CardDebit,
  type ConsentClaims,
  type DemoPki,
  type KeyPair,
  type Offer,
  type Result,
  type VerificationCode,
} from "../src/index.js";

const NOW = new Date("2026-05-04T08:00:00.000Z");
const HOUR = 3_600_000;
const CARD = partyId("card", "alice-1");
const USER = partyId("user", "alice");

function code(result: Result<unknown>): VerificationCode | "valid" {
  return result.ok ? "valid" : result.error.code;
}

function claimsOf(ack: Acknowledgment): Record<string, unknown> {
  return JSON.parse(Buffer.from(ack.acknowledgment.split(".")[1]!, "base64url").toString("utf8")) as Record<string, unknown>;
}

for (const alg of ["ES256", "EdDSA"] as const) {
  describe(`acknowledgments signed by a card (${alg})`, () => {
    let pki: DemoPki;
    let cardKeys: KeyPair;
    let cardChain: string[];
    let offer: Offer;
    let consent: ConsentClaims;
    const clock = new FixedClock(NOW);
    const options = (more: Partial<AcknowledgmentCheckOptions> = {}): AcknowledgmentCheckOptions => ({
      trust: pki.trustStore(),
      clock,
      ...more,
    });
    const cardSigns = (
      claims: Record<string, unknown>,
      key: KeyPair = cardKeys,
      x5c: readonly string[] = cardChain,
    ): Promise<Acknowledgment> =>
      signJws(JwsTypes.acknowledgment, claims, key, { x5c }).then((token) => ({
        type: "peage.acknowledgment",
        v: 1,
        acknowledgment: token,
      }));
    const cardAck = (debit: CardDebit | null = { counter: 7, balance: 450 }): Promise<Acknowledgment> =>
      signAcknowledgment({
        consent,
        paymentId: "card_7",
        server: CARD,
        charged: consent.price,
        key: cardKeys,
        x5c: cardChain,
        clock,
        ...(debit && { debit }),
      });

    before(async () => {
      pki = await createDemoPki({ alg, now: NOW, cardIssuer: true });
      cardKeys = await generateKeyPair("ES256");
      const certificate = await issueCertificate({
        issuer: pki.cardIssuer!,
        subject: "CN=alice-1,O=Péage",
        publicKey: cardKeys.publicKey,
        notBefore: new Date(NOW.getTime() - HOUR),
        notAfter: new Date(NOW.getTime() + 100 * HOUR),
        roles: ["card-acknowledgment"],
        identity: CARD,
      });
      cardChain = pki.chainOf(certificate);
      const catalog = await signCatalog(
        pki.publisher.identity,
        [{ offerId: "launch", description: "One game", price: price(50, "EUR"), grant: { kind: "launch" } }],
        pki.publisher.keys,
        pki.chainOf(pki.publisher.certificate),
      );
      offer = createOffer(catalog.offers[0]!, clock);
      const userKey = await generateKeyPair(alg);
      const request = await createPaymentRequest({ offer, user: USER, server: pki.server.identity, userKey, clock });
      consent = JSON.parse(Buffer.from(request.consent.split(".")[1]!, "base64url").toString("utf8")) as ConsentClaims;
    });

    it("the merchant accepts it, learns the card, its issuing server and the debit", async () => {
      const ack = await cardAck();
      assert.deepEqual(claimsOf(ack)["debit"], { counter: 7, balance: 450 });
      const result = await verifyAcknowledgment(ack, offer, options({ server: pki.server.identity }));
      assert.ok(result.ok, result.ok ? "" : result.error.message);
      assert.deepEqual(result.value.card, { card: CARD, issuer: pki.server.identity, debit: { counter: 7, balance: 450 } });
      assert.equal(result.value.chain.role, "card-acknowledgment");
      const postpaid = await verifyAcknowledgment(await cardAck({ counter: 8, used: 900 }), offer, options());
      assert.deepEqual(postpaid.ok && postpaid.value.card?.debit, { counter: 8, used: 900 });
    });

    it("a server's acknowledgment is as before: no card, no debit", async () => {
      const ack = await signAcknowledgment({
        consent,
        paymentId: "pay_1",
        server: pki.server.identity,
        charged: consent.price,
        key: pki.server.keys,
        x5c: pki.chainOf(pki.server.certificate),
        clock,
      });
      assert.equal("debit" in claimsOf(ack), false);
      const result = await verifyAcknowledgment(ack, offer, options());
      assert.ok(result.ok);
      assert.equal(result.value.card, undefined);
      assert.equal(result.value.chain.role, "acknowledgment-signing");
    });

    it("a merchant that accepts only another server, or no cards, refuses it", async () => {
      const ack = await cardAck();
      assert.equal(
        code(await verifyAcknowledgment(ack, offer, options({ server: partyId("server", "pay-us") }))),
        "ERR_WRONG_AUDIENCE",
      );
      assert.equal(code(await verifyAcknowledgment(ack, offer, options({ acceptCards: false }))), "ERR_WRONG_ROLE");
    });

    it("a card's acknowledgment without the proof of debit is refused", async () => {
      assert.equal(code(await verifyAcknowledgment(await cardAck(null), offer, options())), "ERR_MALFORMED");
    });

    it("identities and chains cannot be mixed: a card posing as a server, a server as a card, a card as another card", async () => {
      const claims = claimsOf(await cardAck());
      // The card's key and chain, claiming to be the payment server.
      assert.equal(
        code(await verifyAcknowledgment(await cardSigns({ ...claims, server: pki.server.identity }), offer, options())),
        "ERR_WRONG_ROLE",
      );
      // The server's key and chain, claiming to be a card (to skip the server's own records).
      const serverChain = pki.chainOf(pki.server.certificate);
      assert.equal(
        code(await verifyAcknowledgment(await cardSigns(claims, pki.server.keys, serverChain), offer, options())),
        "ERR_WRONG_ROLE",
      );
      // Another card's name under this card's certificate.
      assert.equal(
        code(await verifyAcknowledgment(await cardSigns({ ...claims, server: partyId("card", "bob-1") }), offer, options())),
        "ERR_IDENTITY_MISMATCH",
      );
      // The wallet's own key under the card's chain.
      assert.equal(
        code(await verifyAcknowledgment(await cardSigns(claims, await generateKeyPair("ES256")), offer, options())),
        "ERR_BAD_SIGNATURE",
      );
    });

    it("the debit field is exactly a counter and a balance or a used amount, integers, in range", async () => {
      const claims = claimsOf(await cardAck());
      const bad: unknown[] = [
        { counter: 7, balance: 450, used: 1 },
        { counter: 7 },
        { counter: 0, balance: 450 },
        { counter: 7, balance: -1 },
        { counter: 7, balance: 4.5 },
        { counter: "7", balance: 450 },
        { counter: 7, balance: 450, currency: "EUR" },
      ];
      for (const debit of bad) {
        assert.equal(
          code(await verifyAcknowledgment(await cardSigns({ ...claims, debit }), offer, options())),
          "ERR_MALFORMED",
          JSON.stringify(debit),
        );
      }
      const claimsParser = parser(AcknowledgmentClaimsSchema);
      assert.ok(claimsParser.parse({ ...claims, debit: { counter: 1, used: 0 } }, "ack").ok);
    });
  });
}
