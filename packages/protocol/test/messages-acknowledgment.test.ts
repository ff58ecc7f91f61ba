/**
 * Message 3, the acknowledgment S_SP(offer_h, price, nonce, date): what the payment server signs,
 * and the merchant's check (verifyAcknowledgment) against the offer it sent — another nonce,
 * price or date, the wrong certificate role, another server, an expired offer.
 */
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import {
  DEFAULT_CLOCK_SKEW_MS,
  FixedClock,
  JwsTypes,
  price,
  signAcknowledgment,
  signJws,
  timestamp,
  toX5c,
  verifyAcknowledgment,
  type Acknowledgment,
  type AcknowledgmentCheckOptions,
  type Offer,
  type PaymentRequest,
  type Result,
  type VerificationCode,
} from "../src/index.js";
import {
  ackAt,
  at,
  claimsOf,
  DAY,
  headerOf,
  makeWorld,
  MINUTE,
  offerAt,
  OTHER_PUBLISHER,
  OTHER_SERVER,
  PUBLISHER,
  requestAt,
  SERVER,
  type World,
} from "../scripts/scenario.js";

const NOW = new Date("2026-07-20T06:30:00.000Z");
const T = at(NOW, DAY);
const SECOND = 1000;

function code(result: Result<unknown>): VerificationCode | "valid" {
  return result.ok ? "valid" : result.error.code;
}

for (const alg of ["ES256", "EdDSA"] as const) {
  describe(`acknowledgments (${alg})`, () => {
    let w: World;
    let offer: Offer;
    let request: PaymentRequest;
    let ack: Acknowledgment;
    const ackTime = at(T, MINUTE + 2 * SECOND);
    const options = (more: Partial<AcknowledgmentCheckOptions> = {}): AcknowledgmentCheckOptions => ({
      trust: w.trust,
      clock: new FixedClock(at(ackTime, SECOND)),
      ...more,
    });
    const serverSigns = async (claims: Record<string, unknown>): Promise<Acknowledgment> => ({
      ...ack,
      acknowledgment: await signJws(JwsTypes.acknowledgment, claims, w.pki.server.keys, { x5c: w.serverChain }),
    });
    before(async () => {
      w = await makeWorld(alg, NOW);
      offer = offerAt(w.entries["launch"]!, T);
      request = await requestAt(offer, w.user, at(T, MINUTE));
      ack = await ackAt(w, request, ackTime, { paymentId: "pay_123" });
    });

    it("the server signs the consent's hash, price, nonce and date, with its identity, the payment and its time", () => {
      assert.deepEqual(headerOf(ack.acknowledgment), { alg, typ: JwsTypes.acknowledgment, x5c: w.serverChain });
      assert.deepEqual(claimsOf(ack.acknowledgment), {
        v: 1,
        paymentId: "pay_123",
        server: SERVER,
        user: w.user.id,
        publisher: PUBLISHER,
        offerHash: offer.offerHash,
        price: offer.terms.price,
        nonce: offer.nonce,
        date: offer.date,
        serverTime: timestamp(ackTime),
        charged: offer.terms.price,
      });
    });

    it("the merchant gets the claims, the server's chain and the server's time", async () => {
      const result = await verifyAcknowledgment(ack, offer, options({ server: SERVER }));
      assert.ok(result.ok);
      assert.equal(result.value.chain.identity, SERVER);
      assert.equal(result.value.chain.role, "acknowledgment-signing");
      assert.equal(result.value.serverTime.getTime(), ackTime.getTime());
      assert.equal(result.value.claims.paymentId, "pay_123");
    });

    it("a conversion into the user's currency is carried as charged and rate", async () => {
      const converted = await signAcknowledgment({
        consent: claimsOf(request.consent),
        paymentId: "pay_124",
        server: SERVER,
        charged: price(58, "USD"),
        rate: "1.1600000000",
        key: w.pki.server.keys,
        x5c: w.serverChain,
        clock: new FixedClock(ackTime),
      });
      const result = await verifyAcknowledgment(converted, offer, options());
      assert.ok(result.ok);
      assert.deepEqual(result.value.claims.charged, price(58, "USD"));
      assert.equal(result.value.claims.rate, "1.1600000000");
      assert.deepEqual(result.value.claims.price, offer.terms.price);
    });

    it("an acknowledgment of another instance of the same offer (another nonce) is refused", async () => {
      const next = offerAt(w.entries["launch"]!, at(T, 10 * SECOND));
      assert.equal(next.offerHash, offer.offerHash);
      assert.equal(code(await verifyAcknowledgment(ack, next, options())), "ERR_NONCE_MISMATCH");
      // The same nonce with another date (the wallet changed it before consent).
      const redated = await ackAt(
        w,
        await requestAt({ ...offer, date: timestamp(at(T, SECOND)) }, w.user, at(T, MINUTE)),
        ackTime,
      );
      assert.equal(code(await verifyAcknowledgment(redated, offer, options())), "ERR_DATE_MISMATCH");
    });

    it("an acknowledgment of another price for this offer is refused, with both prices", async () => {
      const result = await verifyAcknowledgment(
        await serverSigns({ ...claimsOf(ack.acknowledgment), price: price(1, "EUR") }),
        offer,
        options(),
      );
      assert.equal(code(result), "ERR_PRICE_MISMATCH");
      assert.deepEqual(result.ok ? undefined : result.error.detail, {
        acknowledged: price(1, "EUR"),
        offered: offer.terms.price,
      });
    });

    it("an acknowledgment of another offer is refused on the hash", async () => {
      assert.equal(code(await verifyAcknowledgment(ack, offerAt(w.entries["day-pass"]!, T), options())), "ERR_HASH_MISMATCH");
    });

    it("roles: the publisher's certificate cannot acknowledge, the server's cannot offer", async () => {
      const byPublisher = {
        ...ack,
        acknowledgment: await signJws(JwsTypes.acknowledgment, claimsOf(ack.acknowledgment), w.pki.publisher.keys, {
          x5c: w.publisherChain,
        }),
      };
      const result = await verifyAcknowledgment(byPublisher, offer, options());
      assert.equal(code(result), "ERR_WRONG_ROLE");
      assert.match(result.ok ? "" : result.error.message, /acknowledgment-signing/);
      assert.equal(code(await w.trust.validate(w.serverChain, "offer-signing", T)), "ERR_WRONG_ROLE");
      assert.equal(code(await w.trust.validate(w.publisherChain, "offer-signing", T)), "valid");
      assert.equal(code(await w.trust.validate(w.serverChain, "acknowledgment-signing", T)), "valid");
    });

    it("a server certificate under the publishers' association (EKU chaining) cannot acknowledge", async () => {
      assert.equal(
        code(
          await w.trust.validate(
            [toX5c(w.extra.ackRoleUnderPublishersCa), toX5c(w.pki.publishersCa.certificate)],
            "acknowledgment-signing",
            T,
          ),
        ),
        "ERR_WRONG_ROLE",
      );
    });

    it("the server named in the acknowledgment is the one its certificate names, and the one the merchant accepts", async () => {
      assert.equal(
        code(
          await verifyAcknowledgment(
            await serverSigns({ ...claimsOf(ack.acknowledgment), server: OTHER_SERVER }),
            offer,
            options(),
          ),
        ),
        "ERR_IDENTITY_MISMATCH",
      );
      assert.equal(
        code(
          await verifyAcknowledgment(
            await serverSigns({ ...claimsOf(ack.acknowledgment), publisher: OTHER_PUBLISHER }),
            offer,
            options(),
          ),
        ),
        "ERR_IDENTITY_MISMATCH",
      );
      assert.equal(code(await verifyAcknowledgment(ack, offer, options({ server: OTHER_SERVER }))), "ERR_WRONG_AUDIENCE");
    });

    it("an acknowledgment arriving after the offer expired (plus the grace) is refused; the grace is an option", async () => {
      const expiry = new Date(offer.expiresAt);
      assert.equal(
        code(await verifyAcknowledgment(ack, offer, options({ clock: new FixedClock(at(expiry, DEFAULT_CLOCK_SKEW_MS + 1)) }))),
        "ERR_MESSAGE_EXPIRED",
      );
      assert.equal(
        code(await verifyAcknowledgment(ack, offer, options({ clock: new FixedClock(at(expiry, DEFAULT_CLOCK_SKEW_MS)) }))),
        "valid",
      );
      assert.equal(
        code(await verifyAcknowledgment(ack, offer, options({ clock: new FixedClock(at(expiry, 1)), graceMs: 0 }))),
        "ERR_MESSAGE_EXPIRED",
      );
    });

    it("an acknowledgment the wallet made itself, under the server's chain, does not verify", async () => {
      const forged = {
        ...ack,
        acknowledgment: await signJws(JwsTypes.acknowledgment, claimsOf(ack.acknowledgment), w.mallory.key, {
          x5c: w.serverChain,
        }),
      };
      assert.equal(code(await verifyAcknowledgment(forged, offer, options())), "ERR_BAD_SIGNATURE");
    });

    it("an acknowledgment under a rogue hierarchy copying the real names is refused", async () => {
      const rogue = {
        ...ack,
        acknowledgment: await signJws(JwsTypes.acknowledgment, claimsOf(ack.acknowledgment), w.rogue.server.keys, {
          x5c: w.rogue.chainOf(w.rogue.server.certificate),
        }),
      };
      assert.equal(code(await verifyAcknowledgment(rogue, offer, options())), "ERR_UNKNOWN_ISSUER");
    });
  });
}
