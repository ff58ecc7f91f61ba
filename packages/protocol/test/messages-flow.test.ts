/**
 * The three messages end to end, as separate parties exchange them: each party has its own trust
 * store built from PEM, and every message crosses as JSON text. Also what verification alone
 * does not do (replay protection), and what a signature's bytes do not identify.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  certificateToPem,
  createOffer,
  DEFAULT_CLOCK_SKEW_MS,
  DEFAULT_OFFER_DATE_TOLERANCE_MS,
  FixedClock,
  TrustStore,
  verifyAcknowledgment,
  verifyOffer,
  verifyPaymentRequest,
  type Acknowledgment,
  type Offer,
  type PaymentRequest,
} from "../src/index.js";
import { MAX_OFFER_TTL_MS } from "../src/messages/offer.js";
import {
  ackAt,
  at,
  DAY,
  enrolled,
  makeUser,
  makeWorld,
  MINUTE,
  requestAt,
  segments,
  SERVER,
  withSegment,
  type World,
} from "../scripts/scenario.js";

const NOW = new Date("2026-09-01T16:00:00.000Z");
const T = at(NOW, DAY);
const SECOND = 1000;

/** Over the wire: JSON text, parsed by the receiver. */
const wire = <T>(value: T): unknown => JSON.parse(JSON.stringify(value)) as unknown;

function storeOf(w: World): TrustStore {
  return TrustStore.fromPem(certificateToPem(w.pki.root.certificate));
}

describe("a payment end to end", () => {
  for (const alg of ["ES256", "EdDSA"] as const) {
    for (const userAlg of ["ES256", "EdDSA"] as const) {
      it(`PKI ${alg}, user key ${userAlg}: offer → consent → acknowledgment, each checked by its receiver`, async () => {
        const w = await makeWorld(alg, NOW, userAlg);
        const wallet = storeOf(w);
        const server = storeOf(w);
        const merchant = storeOf(w);

        // Merchant → wallet: message 1.
        const offer = createOffer(w.entries["level-2"]!, new FixedClock(T));
        const shown = await verifyOffer(wire(offer), { trust: wallet, clock: new FixedClock(at(T, 2 * SECOND)) });
        assert.ok(shown.ok, shown.ok ? "" : shown.error.message);
        assert.equal(shown.value.offer.terms.description, "Unlock level 2 — « Péage » track");

        // Wallet → server: message 2, after the user said yes.
        const request = await requestAt(shown.value.offer, w.user, at(T, 20 * SECOND));
        const checked = await verifyPaymentRequest(wire(request), {
          trust: server,
          clock: new FixedClock(at(T, 21 * SECOND)),
          server: SERVER,
          userKey: enrolled([w.user]),
        });
        assert.ok(checked.ok, checked.ok ? "" : checked.error.message);

        // Server → wallet → merchant: message 3.
        const ack = await ackAt(w, wire(request) as PaymentRequest, at(T, 21 * SECOND));
        const accepted = await verifyAcknowledgment(wire(ack), offer, {
          trust: merchant,
          clock: new FixedClock(at(T, 22 * SECOND)),
          server: SERVER,
        });
        assert.ok(accepted.ok, accepted.ok ? "" : accepted.error.message);
        assert.equal(accepted.value.claims.nonce, offer.nonce);
        assert.equal(accepted.value.claims.user, w.user.id);
      });
    }
  }

  it("a warm trust store validates each chain once: later messages cost a cache lookup and a signature check", async () => {
    const w = await makeWorld("ES256", NOW);
    const merchant = storeOf(w);
    const verifyOne = async (offset: number) => {
      const offer = createOffer(w.entries["launch"]!, new FixedClock(at(T, offset)));
      const ack = await ackAt(w, await requestAt(offer, w.user, at(T, offset + SECOND)), at(T, offset + 2 * SECOND));
      const result = await verifyAcknowledgment(ack, offer, {
        trust: merchant,
        clock: new FixedClock(at(T, offset + 3 * SECOND)),
      });
      assert.ok(result.ok);
    };
    for (let i = 0; i < 5; i++) await verifyOne(i * MINUTE);
    const stats = merchant.stats();
    assert.equal(stats.misses, 1);
    assert.equal(stats.hits, 4);
  });

  it("verification is stateless: a replayed request verifies again, so the server must record nonces (ERR_NONCE_REUSED)", async () => {
    const w = await makeWorld("EdDSA", NOW);
    const offer = createOffer(w.entries["launch"]!, new FixedClock(T));
    const request = await requestAt(offer, w.user, at(T, SECOND));
    const options = { trust: w.trust, clock: new FixedClock(at(T, 2 * SECOND)), server: SERVER, userKey: enrolled([w.user]) };
    assert.ok((await verifyPaymentRequest(request, options)).ok);
    assert.ok((await verifyPaymentRequest(wire(request), options)).ok);
  });

  it("ES256 signatures are malleable, (r, s) and (r, n − s): a message is identified by its nonce, never by its bytes", async () => {
    const w = await makeWorld("ES256", NOW);
    const offer: Offer = createOffer(w.entries["launch"]!, new FixedClock(T));
    const ack: Acknowledgment = await ackAt(w, await requestAt(offer, w.user, at(T, SECOND)), at(T, 2 * SECOND));
    const n = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
    const signature = Buffer.from(segments(ack.acknowledgment)[2], "base64url");
    const s = BigInt(`0x${signature.subarray(32).toString("hex")}`);
    const other = Buffer.concat([signature.subarray(0, 32), Buffer.from((n - s).toString(16).padStart(64, "0"), "hex")]);
    const twin = { ...ack, acknowledgment: withSegment(ack.acknowledgment, 2, other.toString("base64url")) };
    assert.notEqual(twin.acknowledgment, ack.acknowledgment);
    const options = { trust: w.trust, clock: new FixedClock(at(T, 3 * SECOND)) };
    assert.ok((await verifyAcknowledgment(ack, offer, options)).ok);
    assert.ok((await verifyAcknowledgment(twin, offer, options)).ok);
  });

  it("an offer can be paid until it expires: the server's offer-date tolerance is the longest offer lifetime plus the skew", async () => {
    assert.equal(DEFAULT_OFFER_DATE_TOLERANCE_MS, MAX_OFFER_TTL_MS + DEFAULT_CLOCK_SKEW_MS);
    const w = await makeWorld("ES256", NOW);
    const user = await makeUser("carol", "ES256");
    const offer = createOffer(w.entries["day-pass"]!, new FixedClock(T), MAX_OFFER_TTL_MS);
    // The user consents at the last moment the wallet still shows the offer: its expiry plus the skew.
    const walletTime = at(T, MAX_OFFER_TTL_MS + DEFAULT_CLOCK_SKEW_MS);
    assert.ok((await verifyOffer(offer, { trust: w.trust, clock: new FixedClock(walletTime) })).ok, "the wallet shows the offer");
    const request = await requestAt(offer, user, walletTime);
    const check = (serverTime: Date) =>
      verifyPaymentRequest(request, {
        trust: w.trust,
        clock: new FixedClock(serverTime),
        server: SERVER,
        userKey: enrolled([user]),
      });
    const accepted = await check(at(T, DEFAULT_OFFER_DATE_TOLERANCE_MS));
    assert.ok(accepted.ok, accepted.ok ? "" : `${accepted.error.code}: ${accepted.error.message}`);
    const late = await check(at(T, DEFAULT_OFFER_DATE_TOLERANCE_MS + 1));
    assert.equal(late.ok ? "accepted" : late.error.code, "ERR_MESSAGE_EXPIRED");
  });
});
