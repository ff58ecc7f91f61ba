/**
 * Message 1 and the catalog it comes from: the offer hash over the canonical terms, the
 * publisher's signature S_E(offer_h, price), and the wallet's check (verifyOffer), each failure
 * built from a real bad case.
 */
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  createOffer,
  JwsTypes,
  signJws,
  DEFAULT_CLOCK_SKEW_MS,
  DEFAULT_OFFER_TTL_MS,
  FixedClock,
  offerHash,
  partyId,
  price,
  PROTOCOL_VERSION,
  signCatalog,
  timestamp,
  verifyCatalog,
  verifyOffer,
  VerificationError,
  type Offer,
  type OfferTerms,
  type Result,
  type VerificationCode,
} from "../src/index.js";
import { MAX_OFFER_TTL_MS } from "../src/messages/offer.js";
import {
  at,
  claimsOf,
  DAY,
  drafts,
  entryFor,
  headerOf,
  makeWorld,
  MINUTE,
  offerAt,
  OTHER_PUBLISHER,
  PUBLISHER,
  type World,
} from "../scripts/scenario.js";

const NOW = new Date("2026-05-04T08:00:00.000Z");
const T = at(NOW, DAY);

function assertCode(result: Result<unknown>, code: VerificationCode, mentions?: string): VerificationError {
  assert.equal(result.ok ? "valid" : result.error.code, code, result.ok ? "" : result.error.message);
  if (result.ok) throw new Error("unreachable");
  if (mentions) assert.match(result.error.message, new RegExp(mentions.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
  return result.error;
}

describe("offer hash (RFC 8785 + SHA-256)", () => {
  const terms = {
    v: 1,
    publisher: PUBLISHER,
    offerId: "level-2",
    description: "Unlock level 2 — « Péage » track",
    price: price(120, "EUR"),
    grant: { kind: "event", event: "level-2" },
  } as OfferTerms;

  it("is SHA-256 over the canonical form: sorted members, no spaces, UTF-8 text as is", () => {
    // Written out by hand: members sorted by UTF-16 code units (RFC 8785 §3.2.3), strings not escaped beyond §3.2.2.2.
    const canonical =
      '{"description":"Unlock level 2 — « Péage » track","grant":{"event":"level-2","kind":"event"},"offerId":"level-2","price":{"amount":120,"currency":"EUR"},"publisher":"urn:peage:publisher:acme-games","v":1}';
    assert.equal(offerHash(terms), createHash("sha256").update(canonical, "utf8").digest("base64url"));
    assert.match(offerHash(terms), /^[A-Za-z0-9_-]{43}$/);
  });

  it("does not depend on member order, and changes with any member", () => {
    const reordered = JSON.parse(
      JSON.stringify({
        grant: terms.grant,
        price: { currency: "EUR", amount: 120 },
        v: 1,
        offerId: terms.offerId,
        publisher: terms.publisher,
        description: terms.description,
      }),
    ) as OfferTerms;
    assert.equal(offerHash(reordered), offerHash(terms));
    const variants: OfferTerms[] = [
      { ...terms, description: `${terms.description} ` },
      { ...terms, price: price(121, "EUR") },
      { ...terms, price: price(120, "USD") },
      { ...terms, offerId: "level-3" },
      { ...terms, grant: { kind: "launch" } },
      { ...terms, publisher: OTHER_PUBLISHER },
    ];
    assert.equal(new Set([offerHash(terms), ...variants.map(offerHash)]).size, variants.length + 1);
  });
});

for (const alg of ["ES256", "EdDSA"] as const) {
  describe(`offers and catalogs (${alg})`, () => {
    let w: World;
    let offer: Offer;
    const check = (value: unknown, when: Date = at(T, 30_000), skewMs?: number) =>
      verifyOffer(value, { trust: w.trust, clock: new FixedClock(when), ...(skewMs !== undefined && { skewMs }) });
    before(async () => {
      w = await makeWorld(alg, NOW);
      offer = offerAt(w.entries["launch"]!, T);
    });

    it("signCatalog signs S_E(offer_h, price) once per entry, with the publisher's chain in x5c", async () => {
      for (const entry of w.catalog.offers) {
        assert.equal(entry.offerHash, offerHash(entry.terms));
        assert.deepEqual(claimsOf(entry.signature), {
          v: PROTOCOL_VERSION,
          offerHash: entry.offerHash,
          price: entry.terms.price,
        });
        assert.deepEqual(headerOf(entry.signature), { alg, typ: "peage-offer+jws", x5c: w.publisherChain });
      }
      const verified = await verifyCatalog(w.catalog, w.trust, T);
      assert.ok(verified.ok);
      assert.deepEqual(
        [...verified.value.byOfferId.keys()],
        drafts.map((d) => d.offerId),
      );
    });

    it("a catalog survives any JSON re-serialization: the hash is over the canonical form, not the text", async () => {
      const pretty = JSON.parse(JSON.stringify(w.catalog, null, 4)) as unknown;
      const reversed = JSON.parse(
        JSON.stringify(w.catalog, (_key, value: unknown) =>
          value && typeof value === "object" && !Array.isArray(value)
            ? Object.fromEntries(Object.entries(value).reverse())
            : value,
        ),
      ) as unknown;
      assert.ok((await verifyCatalog(pretty, w.trust, T)).ok);
      assert.ok((await verifyCatalog(reversed, w.trust, T)).ok);
    });

    it("signCatalog refuses drafts the schema refuses (control characters in a description)", async () => {
      const bad = [{ ...drafts[0]!, description: "Start\u0007" }];
      await assert.rejects(
        signCatalog(PUBLISHER, bad, w.pki.publisher.keys, w.publisherChain),
        (error: unknown) => error instanceof VerificationError && error.code === "ERR_MALFORMED",
      );
    });

    it("a description is text: one that merely looks like an impossible timestamp is accepted, an impossible date is not", async () => {
      const catalog = await signCatalog(
        PUBLISHER,
        [{ ...drafts[0]!, description: "2026-02-30T09:00:00.000Z" }],
        w.pki.publisher.keys,
        w.publisherChain,
      );
      assert.ok((await verifyCatalog(catalog, w.trust, T)).ok);
      assertCode(await check({ ...offer, date: "2026-02-30T09:00:00.000Z" }), "ERR_MALFORMED", "/date");
    });

    it("a catalog with a changed description fails on the hash, naming the entry", async () => {
      const offers = w.catalog.offers.map((entry, i) =>
        i === 2 ? { ...entry, terms: { ...entry.terms, description: "Unlock every level" } } : entry,
      );
      const error = assertCode(
        await verifyCatalog({ ...w.catalog, offers }, w.trust, T),
        "ERR_HASH_MISMATCH",
        "catalog offer level-2",
      );
      assert.equal(error.detail["index"], 2);
    });

    it("createOffer adds a fresh 128-bit nonce and the machine's date; the lifetime is bounded", () => {
      const entry = w.entries["launch"]!;
      const a = createOffer(entry, new FixedClock(T));
      const b = createOffer(entry, new FixedClock(T));
      assert.notEqual(a.nonce, b.nonce);
      assert.equal(Buffer.from(a.nonce, "base64url").length, 16);
      assert.equal(a.date, timestamp(T));
      assert.equal(Date.parse(a.expiresAt) - Date.parse(a.date), DEFAULT_OFFER_TTL_MS);
      assert.deepEqual({ terms: a.terms, offerHash: a.offerHash, signature: a.signature }, entry);
      assert.throws(() => createOffer(entry, new FixedClock(T), 0), RangeError);
      assert.throws(() => createOffer(entry, new FixedClock(T), MAX_OFFER_TTL_MS + 1), RangeError);
      assert.equal(createOffer(entry, new FixedClock(T), MAX_OFFER_TTL_MS).expiresAt, timestamp(at(T, MAX_OFFER_TTL_MS)));
    });

    it("verifyOffer returns the offer and the publisher its certificate names", async () => {
      const result = await check(offer);
      assert.ok(result.ok);
      assert.equal(result.value.signature.publisher, PUBLISHER);
      assert.equal(result.value.signature.chain.role, "offer-signing");
      assert.deepEqual(result.value.signature.claims.price, offer.terms.price);
    });

    it("a forged offer: lower price, re-hashed, re-signed with the attacker's key under the publisher's chain", async () => {
      const terms = { ...offer.terms, price: price(1, "EUR") };
      const forged = { ...offer, ...(await entryFor(terms, w.mallory.key, w.publisherChain)) };
      assertCode(await check(forged), "ERR_BAD_SIGNATURE");
    });

    it("a price changed in the terms fails on the hash, and again after re-hashing", async () => {
      const terms = { ...offer.terms, price: price(1, "EUR") };
      assertCode(await check({ ...offer, terms }), "ERR_HASH_MISMATCH", "not the hash of the offer's terms");
      assertCode(
        await check({ ...offer, terms, offerHash: offerHash(terms) }),
        "ERR_HASH_MISMATCH",
        "publisher signed a different offer hash",
      );
    });

    it("a publisher signature over the right hash and another price", async () => {
      const claims = claimsOf<{ v: number; offerHash: string }>(offer.signature);
      const signature = await signJws(JwsTypes.offerSignature, { ...claims, price: price(5, "EUR") }, w.pki.publisher.keys, {
        x5c: w.publisherChain,
      });
      const error = assertCode(await check({ ...offer, signature }), "ERR_PRICE_MISMATCH");
      assert.deepEqual(error.detail, { signed: price(5, "EUR"), stated: offer.terms.price });
    });

    it("roles: an offer signed with the payment server's certificate is refused, whatever the terms say", async () => {
      assertCode(
        await check({ ...offer, ...(await entryFor(offer.terms, w.pki.server.keys, w.serverChain)) }),
        "ERR_WRONG_ROLE",
        "offer-signing",
      );
    });

    it("a publisher cannot sign offers in another publisher's name", async () => {
      const terms = { ...offer.terms, publisher: OTHER_PUBLISHER };
      assertCode(
        await check({ ...offer, ...(await entryFor(terms, w.pki.publisher.keys, w.publisherChain)) }),
        "ERR_IDENTITY_MISMATCH",
        OTHER_PUBLISHER,
      );
      const other = partyId("publisher", "other-studio");
      const ownEntry = await entryFor(terms, w.extra.otherPublisher.keys, w.pki.chainOf(w.extra.otherPublisher.certificate));
      const own = await check({ ...offer, ...ownEntry });
      assert.ok(own.ok);
      assert.equal(own.value.signature.publisher, other);
    });

    it("an offer from the future beyond the skew, and the skew as an option", async () => {
      const entry = w.entries["launch"]!;
      const verifier = at(T, 30_000);
      assertCode(
        await check(offerAt(entry, at(verifier, DEFAULT_CLOCK_SKEW_MS + 1)), verifier),
        "ERR_MESSAGE_NOT_YET_VALID",
        "in the future",
      );
      assert.ok((await check(offerAt(entry, at(verifier, DEFAULT_CLOCK_SKEW_MS)), verifier)).ok);
      assertCode(await check(offerAt(entry, at(verifier, 1)), verifier, 0), "ERR_MESSAGE_NOT_YET_VALID");
    });

    it("an expired offer, beyond the skew", async () => {
      const expiry = new Date(offer.expiresAt);
      const error = assertCode(await check(offer, at(expiry, DEFAULT_CLOCK_SKEW_MS + 1)), "ERR_MESSAGE_EXPIRED");
      assert.equal(error.detail["expiresAt"], offer.expiresAt);
      assert.ok((await check(offer, at(expiry, DEFAULT_CLOCK_SKEW_MS))).ok);
      assertCode(await check(offer, at(expiry, 1), 0), "ERR_MESSAGE_EXPIRED");
    });

    it("lifetimes: longer than MAX_OFFER_TTL_MS or not positive is malformed", async () => {
      assertCode(
        await check({ ...offer, expiresAt: timestamp(at(T, MAX_OFFER_TTL_MS + 1)) }),
        "ERR_MALFORMED",
        `at most ${MAX_OFFER_TTL_MS / 60_000} minutes`,
      );
      assert.ok((await check({ ...offer, expiresAt: timestamp(at(T, MAX_OFFER_TTL_MS)) })).ok);
      assertCode(await check({ ...offer, expiresAt: offer.date }), "ERR_MALFORMED");
    });

    it("nonce and date are not the publisher's: verifyOffer accepts them changed (the consent and acknowledgment bind them)", async () => {
      const changed = { ...offer, nonce: "A".repeat(22), date: timestamp(at(T, MINUTE)) };
      assert.ok((await check(changed, at(T, 2 * MINUTE))).ok);
    });

    it("the certificate validity is checked at the verifier's time", async () => {
      const entry = w.entries["launch"]!;
      const late = at(w.pki.publisher.certificate.notAfter, 1);
      assertCode(await check(offerAt(entry, late), late), "ERR_CERT_EXPIRED");
      const early = at(w.pki.publisher.certificate.notBefore, -1);
      assertCode(await check(offerAt(entry, early), early), "ERR_CERT_NOT_YET_VALID");
    });
  });
}
