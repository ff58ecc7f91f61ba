/**
 * Message 2, the payment request: what the consent binds, and the payment server's check
 * (verifyPaymentRequest) against real bad cases — another user's key, another server, stale or
 * early consents, a wallet that changed the price, a publisher signature that does not hold.
 */
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import {
  createPaymentRequest,
  DEFAULT_CLOCK_SKEW_MS,
  DEFAULT_OFFER_DATE_TOLERANCE_MS,
  FixedClock,
  JwsTypes,
  keyThumbprint,
  MAX_CONSENT_TTL_MS,
  price,
  signJws,
  timestamp,
  verifyPaymentRequest,
  type Offer,
  type PartyId,
  type PaymentRequest,
  type PaymentRequestCheckOptions,
  type Result,
  type VerificationCode,
} from "../src/index.js";
import { DEFAULT_CONSENT_TTL_MS } from "../src/messages/payment-request.js";
import {
  at,
  claimsOf,
  crlOf,
  DAY,
  enrolled,
  entryFor,
  flipSignature,
  headerOf,
  makeUser,
  makeWorld,
  MINUTE,
  offerAt,
  OTHER_PUBLISHER,
  OTHER_SERVER,
  PUBLISHER,
  requestAt,
  SERVER,
  withClaims,
  type User,
  type World,
} from "../scripts/scenario.js";

const NOW = new Date("2026-06-10T14:00:00.000Z");
const T = at(NOW, DAY);
const SECOND = 1000;

function code(result: Result<unknown>): VerificationCode | "valid" {
  return result.ok ? "valid" : result.error.code;
}

for (const alg of ["ES256", "EdDSA"] as const) {
  describe(`payment requests (${alg})`, () => {
    let w: World;
    let bob: User;
    let offer: Offer;
    let request: PaymentRequest;
    const consentAt = at(T, MINUTE);
    const options = (more: Partial<PaymentRequestCheckOptions> = {}): PaymentRequestCheckOptions => ({
      trust: w.trust,
      clock: new FixedClock(at(consentAt, SECOND)),
      server: SERVER,
      userKey: enrolled([w.user, bob]),
      ...more,
    });
    before(async () => {
      w = await makeWorld(alg, NOW);
      bob = await makeUser("bob", alg === "ES256" ? "EdDSA" : "ES256");
      offer = offerAt(w.entries["day-pass"]!, T);
      request = await requestAt(offer, w.user, consentAt);
    });

    it("the consent binds hash, price, nonce, date, publisher, user and server, under the user's key thumbprint", async () => {
      assert.equal(request.signature, offer.signature);
      assert.deepEqual(headerOf(request.consent), {
        alg: w.user.key.alg,
        typ: JwsTypes.consent,
        kid: await keyThumbprint(w.user.key.publicKey),
      });
      assert.deepEqual(claimsOf(request.consent), {
        v: 1,
        offerHash: offer.offerHash,
        price: offer.terms.price,
        date: offer.date,
        nonce: offer.nonce,
        publisher: PUBLISHER,
        user: w.user.id,
        server: SERVER,
        consentedAt: timestamp(consentAt),
        expiresAt: timestamp(at(consentAt, DEFAULT_CONSENT_TTL_MS)),
      });
      // The server is never told what the user bought, only its hash.
      assert.ok(!JSON.stringify(request).includes(offer.terms.description));
    });

    it("createPaymentRequest bounds the consent's lifetime", async () => {
      const make = (ttlMs: number) =>
        createPaymentRequest({
          offer,
          user: w.user.id,
          server: SERVER,
          userKey: w.user.key,
          clock: new FixedClock(consentAt),
          ttlMs,
        });
      await assert.rejects(make(0), RangeError);
      await assert.rejects(make(MAX_CONSENT_TTL_MS + 1), RangeError);
      assert.ok((await verifyPaymentRequest(await make(MAX_CONSENT_TTL_MS), options())).ok);
    });

    it("a valid request yields the consent, the key id and the verified publisher signature; the key lookup gets the claimed user and kid", async () => {
      const asked: [PartyId<"user">, string][] = [];
      const result = await verifyPaymentRequest(
        request,
        options({
          userKey: async (user, kid) => {
            asked.push([user, kid]);
            return enrolled([w.user])(user, kid);
          },
        }),
      );
      assert.ok(result.ok);
      assert.deepEqual(asked, [[w.user.id, w.user.kid]]);
      assert.equal(result.value.kid, w.user.kid);
      assert.equal(result.value.consent.nonce, offer.nonce);
      assert.equal(result.value.publisher.publisher, PUBLISHER);
    });

    it("a consent signed by another (enrolled) user's key: unknown under that kid for alice, bad signature under hers", async () => {
      const claims = claimsOf(request.consent);
      const underBobsKid = { ...request, consent: await signJws(JwsTypes.consent, claims, bob.key, { kid: bob.kid }) };
      assert.equal(code(await verifyPaymentRequest(underBobsKid, options())), "ERR_UNKNOWN_KEY");
      // Signed with bob's key but naming alice's kid. Bob's key is of the other algorithm, so also try one of the same.
      const mallorySameAlg = { ...request, consent: await signJws(JwsTypes.consent, claims, w.mallory.key, { kid: w.user.kid }) };
      assert.equal(code(await verifyPaymentRequest(mallorySameAlg, options())), "ERR_BAD_SIGNATURE");
      const bobOtherAlg = { ...request, consent: await signJws(JwsTypes.consent, claims, bob.key, { kid: w.user.kid }) };
      assert.equal(code(await verifyPaymentRequest(bobOtherAlg, options())), "ERR_UNSUPPORTED_ALGORITHM");
      // Bob consenting for himself is fine.
      assert.equal(code(await verifyPaymentRequest(await requestAt(offer, bob, consentAt), options())), "valid");
    });

    it("a consent for another server is refused by this one, and accepted by that one", async () => {
      const elsewhere = await requestAt(offer, w.user, consentAt, OTHER_SERVER);
      const result = await verifyPaymentRequest(elsewhere, options());
      assert.equal(code(result), "ERR_WRONG_AUDIENCE");
      assert.equal(result.ok ? undefined : result.error.detail["server"], OTHER_SERVER);
      assert.equal(code(await verifyPaymentRequest(elsewhere, options({ server: OTHER_SERVER }))), "valid");
    });

    it("the signature is checked before anything the consent says is acted on", async () => {
      // Wrong server AND altered: the forgery is what is reported.
      const elsewhere = await requestAt(offer, w.user, consentAt, OTHER_SERVER);
      const altered = {
        ...elsewhere,
        consent: withClaims(elsewhere.consent, {
          ...claimsOf<Record<string, unknown>>(elsewhere.consent),
          price: price(1, "EUR"),
        }),
      };
      assert.equal(code(await verifyPaymentRequest(altered, options())), "ERR_BAD_SIGNATURE");
      assert.equal(
        code(await verifyPaymentRequest({ ...request, consent: flipSignature(request.consent) }, options())),
        "ERR_BAD_SIGNATURE",
      );
    });

    it("an expired consent, beyond the skew; the skew is an option", async () => {
      const expiry = at(consentAt, DEFAULT_CONSENT_TTL_MS);
      assert.equal(
        code(await verifyPaymentRequest(request, options({ clock: new FixedClock(at(expiry, DEFAULT_CLOCK_SKEW_MS + 1)) }))),
        "ERR_MESSAGE_EXPIRED",
      );
      assert.equal(
        code(await verifyPaymentRequest(request, options({ clock: new FixedClock(at(expiry, DEFAULT_CLOCK_SKEW_MS)) }))),
        "valid",
      );
      assert.equal(
        code(await verifyPaymentRequest(request, options({ clock: new FixedClock(at(expiry, 1)), skewMs: 0 }))),
        "ERR_MESSAGE_EXPIRED",
      );
    });

    it("a consent from the future beyond the skew", async () => {
      const early = await requestAt(offer, w.user, at(consentAt, DEFAULT_CLOCK_SKEW_MS + 2 * SECOND));
      assert.equal(code(await verifyPaymentRequest(early, options())), "ERR_MESSAGE_NOT_YET_VALID");
    });

    it("the offer's date (the user's machine clock): at most the tolerance in the past, the skew in the future", async () => {
      const server = at(consentAt, SECOND);
      const entry = w.entries["day-pass"]!;
      const dated = async (offset: number) => requestAt(offerAt(entry, at(server, offset)), w.user, at(server, -SECOND));
      const old = await dated(-DEFAULT_OFFER_DATE_TOLERANCE_MS - 1);
      const result = await verifyPaymentRequest(old, options());
      assert.equal(code(result), "ERR_MESSAGE_EXPIRED");
      assert.equal(result.ok ? undefined : result.error.detail["date"], claimsOf(old.consent)["date"]);
      assert.equal(
        code(await verifyPaymentRequest(old, options({ offerDateToleranceMs: DEFAULT_OFFER_DATE_TOLERANCE_MS + 1 }))),
        "valid",
      );
      assert.equal(code(await verifyPaymentRequest(await dated(-DEFAULT_OFFER_DATE_TOLERANCE_MS), options())), "valid");
      assert.equal(code(await verifyPaymentRequest(await dated(DEFAULT_CLOCK_SKEW_MS), options())), "valid");
      assert.equal(
        code(await verifyPaymentRequest(await dated(DEFAULT_CLOCK_SKEW_MS + 1), options())),
        "ERR_MESSAGE_NOT_YET_VALID",
      );
      assert.equal(code(await verifyPaymentRequest(await dated(1), options({ skewMs: 0 }))), "ERR_MESSAGE_NOT_YET_VALID");
    });

    it("a wallet that shows (and has signed) a lower price than the publisher signed", async () => {
      const cheaper = await requestAt({ ...offer, terms: { ...offer.terms, price: price(1, "EUR") } }, w.user, consentAt);
      const result = await verifyPaymentRequest(cheaper, options());
      assert.equal(code(result), "ERR_PRICE_MISMATCH");
      assert.deepEqual(result.ok ? undefined : result.error.detail, { signed: offer.terms.price, consented: price(1, "EUR") });
    });

    it("a consent to one offer sent with the publisher's signature of another", async () => {
      const launch = offerAt(w.entries["launch"]!, T);
      const mixed = { ...(await requestAt(launch, w.user, consentAt)), signature: offer.signature };
      assert.equal(code(await verifyPaymentRequest(mixed, options())), "ERR_HASH_MISMATCH");
    });

    it("a consent naming another publisher than the one who signed", async () => {
      const other = await requestAt({ ...offer, terms: { ...offer.terms, publisher: OTHER_PUBLISHER } }, w.user, consentAt);
      assert.equal(code(await verifyPaymentRequest(other, options())), "ERR_IDENTITY_MISMATCH");
    });

    it("the publisher's signature: server certificate (role), rogue hierarchy, revocation", async () => {
      const entry = w.entries["day-pass"]!;
      const byServer = await entryFor(entry.terms, w.pki.server.keys, w.serverChain);
      assert.equal(
        code(await verifyPaymentRequest(await requestAt({ ...offer, ...byServer }, w.user, consentAt), options())),
        "ERR_WRONG_ROLE",
      );
      const rogue = await entryFor(entry.terms, w.rogue.publisher.keys, w.rogue.chainOf(w.rogue.publisher.certificate));
      assert.equal(
        code(await verifyPaymentRequest(await requestAt({ ...offer, ...rogue }, w.user, consentAt), options())),
        "ERR_UNKNOWN_ISSUER",
      );
      const crl = await crlOf(w.pki.publishersCa, [w.pki.publisher.certificate], NOW, at(NOW, 30 * DAY));
      const store = w.pki.trustStore({ crls: [crl] });
      assert.equal(code(await verifyPaymentRequest(request, options({ trust: store }))), "ERR_REVOKED");
    });

    it("the consent names the user's key by kid: a header carrying a certificate chain instead is malformed", async () => {
      const claims = claimsOf(request.consent);
      const withChain = { ...request, consent: await signJws(JwsTypes.consent, claims, w.user.key, { x5c: w.publisherChain }) };
      assert.equal(code(await verifyPaymentRequest(withChain, options())), "ERR_MALFORMED");
    });
  });
}
