/**
 * Generates packages/protocol/test-vectors/: two fixed demo PKIs (ES256 and EdDSA) dated from
 * VECTORS_NOW, enrolled user keys, and one case per valid message and per way each message kind
 * can fail. Every case is run through the real verifiers before anything is written, so a case
 * whose expectation is wrong stops the generator. No private key is written.
 *
 *   npm run vectors
 *
 * ECDSA signatures and all keys are random, so each run writes different (equally valid) files;
 * the committed files are the reference.
 */
import { mkdir, rm, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import {
  certificateToPem,
  crlToPem,
  DEFAULT_CLOCK_SKEW_MS,
  DEFAULT_OFFER_DATE_TOLERANCE_MS,
  isVerificationCode,
  MAX_CONSENT_TTL_MS,
  offerHash,
  price,
  PROTOCOL_VERSION,
  timestamp,
  toX5c,
  VerificationCodes,
  type Acknowledgment,
  type CatalogEntry,
  type PartyId,
  type Offer,
  type OfferSignatureClaims,
  type PaymentRequest,
  type SignatureAlgorithm,
  type VerificationCode,
  type x509,
} from "../src/index.js";
import { MAX_OFFER_TTL_MS } from "../src/messages/offer.js";
import {
  ackAt,
  at,
  canonicalJson,
  claimsOf,
  crlOf,
  DAY,
  duplicateMember,
  duplicateTyp,
  entryFor,
  flipSignature,
  JwsTypes,
  makeUser,
  makeWorld,
  MINUTE,
  offerAt,
  OTHER_NONCE,
  OTHER_PUBLISHER,
  OTHER_SERVER,
  publicJwk,
  requestAt,
  rawEmptyCrlOf,
  deltaCrlIndicator,
  respellSignature,
  cardAckAt,
  segments,
  b64u,
  SERVER,
  sign,
  signHs256,
  signRaw,
  signRawText,
  unsecured,
  withClaims,
  withSegment,
  type World,
} from "./scenario.js";
import { currencyExponents } from "../src/iso4217.js";
import { mandateCases } from "./mandate-vectors.js";
import { certificateCases, crlTextCases, jwsCases } from "./parsing-vectors.js";
import {
  outcomeOf,
  runner,
  VECTOR_FORMAT,
  VectorKinds,
  type EnrolledKey,
  type VectorCase,
  type VectorContext,
  type VectorExpectation,
  type VectorFile,
  type VectorKind,
} from "./vectors.js";

/** The PKIs' creation time; every date in the vectors is relative to it. */
export const VECTORS_NOW = new Date("2026-01-15T09:00:00.000Z");
/** When the offers of the vectors are made: a day after the PKI. */
const T = at(VECTORS_NOW, DAY);
const SKEW = DEFAULT_CLOCK_SKEW_MS;
const minutes = (ms: number) => `${ms / MINUTE} minutes`;
const SECOND = 1000;

const valid: VectorExpectation = { valid: true };
const fails = (code: VerificationCode): VectorExpectation => ({ valid: false, code });
const iso = (date: Date) => date.toISOString();

class Cases {
  readonly list: VectorCase[] = [];
  constructor(
    readonly world: World,
    readonly crlNames: CrlNames,
  ) {}

  get tag(): string {
    return this.world.alg.toLowerCase();
  }

  add(
    kind: VectorKind,
    name: string,
    description: string,
    input: unknown,
    context: VectorContext,
    expected: VectorExpectation,
  ): void {
    this.list.push({ id: `${kind}/${this.tag}/${name}`, description, kind, alg: this.world.alg, input, context, expected });
  }
}

interface CrlNames {
  readonly publishersEmpty: string;
  readonly publishersRevokesPublisher: string;
  readonly regulatorEmpty: string;
  readonly regulatorRevokesServer: string;
  readonly rootEmpty: string;
  readonly rootRevokesPublishersCa: string;
  readonly withoutCrlSignEmpty: string;
  readonly publishersDelta: string;
  readonly publishersWithoutNextUpdate: string;
}

/** CRLs of each CA of a world, valid for 30 days from VECTORS_NOW. */
async function makeCrls(world: World, into: Record<string, string>): Promise<CrlNames> {
  const { pki } = world;
  const tag = world.alg.toLowerCase();
  const from = VECTORS_NOW;
  const until = at(VECTORS_NOW, 30 * DAY);
  const make = async (name: string, crl: Promise<x509.X509Crl>) => {
    const full = `${tag}-${name}`;
    into[full] = crlToPem(await crl);
    return full;
  };
  return {
    publishersEmpty: await make("publishers-ca-empty", crlOf(pki.publishersCa, [], from, until)),
    publishersRevokesPublisher: await make(
      "publishers-ca-revokes-publisher",
      crlOf(pki.publishersCa, [pki.publisher.certificate], from, until),
    ),
    regulatorEmpty: await make("regulator-ca-empty", crlOf(pki.regulatorCa, [], from, until)),
    regulatorRevokesServer: await make(
      "regulator-ca-revokes-server",
      crlOf(pki.regulatorCa, [pki.server.certificate], from, until),
    ),
    rootEmpty: await make("root-empty", crlOf(pki.root, [], from, until)),
    rootRevokesPublishersCa: await make(
      "root-revokes-publishers-ca",
      crlOf(pki.root, [pki.publishersCa.certificate], from, until),
    ),
    withoutCrlSignEmpty: await make("ca-without-crlsign-empty", rawEmptyCrlOf(world.extra.caWithoutCrlSign, from, until)),
    publishersDelta: await make("publishers-ca-delta", rawEmptyCrlOf(pki.publishersCa, from, until, [deltaCrlIndicator(1)])),
    publishersWithoutNextUpdate: await make(
      "publishers-ca-without-next-update",
      rawEmptyCrlOf(pki.publishersCa, from, undefined),
    ),
  };
}

/** A time after the leaves' notAfter, and one before their notBefore. */
function lateAndEarly(world: World): { late: Date; early: Date } {
  return { late: at(world.pki.publisher.certificate.notAfter, DAY), early: at(world.pki.publisher.certificate.notBefore, -DAY) };
}

async function offerCases(c: Cases): Promise<void> {
  const w = c.world;
  const entry = w.entries["launch"]!;
  const offer = offerAt(entry, T);
  const now = at(T, 30 * SECOND);
  const ctx = (more: Partial<VectorContext> = {}): VectorContext => ({ at: iso(now), ...more });
  const claims = claimsOf<OfferSignatureClaims>(entry.signature);
  const x5c = w.publisherChain;
  const withSignature = (signature: string): Offer => ({ ...offer, signature });
  const add = (name: string, description: string, input: unknown, context: VectorContext, expected: VectorExpectation) =>
    c.add("offer", name, description, input, context, expected);

  add("valid", "An offer for a single launch, verified 30 s after it was made.", offer, ctx(), valid);
  add("valid-period", "An offer granting 24 hours of use.", offerAt(w.entries["day-pass"]!, T), ctx(), valid);
  add(
    "valid-event",
    "An offer for an in-program event, with non-ASCII text in its description.",
    offerAt(w.entries["level-2"]!, T),
    ctx(),
    valid,
  );
  add(
    "valid-with-crl",
    "A valid offer checked with the publishers' association's (empty) CRL loaded.",
    offer,
    ctx({ crls: [c.crlNames.publishersEmpty] }),
    valid,
  );
  const signedFor = async (servers: PartyId<"server">[]): Promise<Offer> =>
    offerAt(await entryFor({ ...entry.terms, servers }, w.pki.publisher.keys, x5c), T);
  add(
    "valid-servers",
    "The terms name the payment servers the program accepts; the wallet pays through pay-eu, one of them.",
    await signedFor([OTHER_SERVER, SERVER]),
    ctx({ server: SERVER }),
    valid,
  );
  add(
    "wrong-audience-servers",
    "The terms accept acknowledgments from pay-us only; a wallet paying through pay-eu must not pay (the program would refuse what it got).",
    await signedFor([OTHER_SERVER]),
    ctx({ server: SERVER }),
    fails("ERR_WRONG_AUDIENCE"),
  );
  add(
    "valid-with-crls-required",
    'A valid offer under the "require" revocation policy, with the CRL of every CA of the path loaded.',
    offer,
    ctx({ crls: [c.crlNames.publishersEmpty, c.crlNames.rootEmpty], revocation: "require" }),
    valid,
  );

  // Shape.
  add("malformed-not-an-object", "A string where an offer object is expected.", "peage.offer", ctx(), fails("ERR_MALFORMED"));
  const { nonce: _nonce, ...withoutNonce } = offer;
  add("malformed-missing-nonce", "The nonce member is missing.", withoutNonce, ctx(), fails("ERR_MALFORMED"));
  add(
    "malformed-extra-member",
    "An unknown member (objects are closed).",
    { ...offer, discount: 10 },
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add("malformed-short-nonce", "A nonce of fewer than 128 bits.", { ...offer, nonce: "c2hvcnQ" }, ctx(), fails("ERR_MALFORMED"));
  add(
    "malformed-impossible-date",
    "A date that matches the pattern but does not exist (30 February); read leniently as 2 March, everything else about the offer would be valid.",
    { ...offer, date: "2026-02-30T09:00:00.000Z", expiresAt: "2026-03-02T09:10:00.000Z" },
    { at: "2026-03-02T09:00:30.000Z" },
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-date-without-milliseconds",
    "A date without milliseconds: one spelling per instant is allowed.",
    { ...offer, date: iso(T).replace(".000Z", "Z") },
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-unknown-currency",
    "A currency code that is not an active ISO 4217 code.",
    { ...offer, terms: { ...offer.terms, price: { amount: 50, currency: "XYZ" } } },
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-fractional-amount",
    "A price amount that is not an integer of minor units.",
    { ...offer, terms: { ...offer.terms, price: { amount: 0.5, currency: "EUR" } } },
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-amount-as-string",
    "A price amount written as a JSON string.",
    { ...offer, terms: { ...offer.terms, price: { amount: "50", currency: "EUR" } } },
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-bidi-description",
    "A description containing U+202E RIGHT-TO-LEFT OVERRIDE, which could make it display differently from what was signed.",
    { ...offer, terms: { ...offer.terms, description: "Start one game \u202e05.0 EUR" } },
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-lifetime-too-long",
    `An offer open for 1 ms more than ${minutes(MAX_OFFER_TTL_MS)}, the longest lifetime.`,
    { ...offer, expiresAt: iso(at(T, MAX_OFFER_TTL_MS + 1)) },
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "lifetime-longest",
    `An offer open for exactly ${minutes(MAX_OFFER_TTL_MS)}, the longest lifetime.`,
    { ...offer, expiresAt: iso(at(T, MAX_OFFER_TTL_MS)) },
    ctx(),
    valid,
  );
  add(
    "malformed-expires-before-date",
    "An offer that expires before it is made.",
    { ...offer, expiresAt: iso(at(T, -SECOND)) },
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-signature-not-a-jws",
    "A publisher signature that is not a compact JWS.",
    withSignature("not-a-jws"),
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-signature-wrong-typ",
    "The publisher's key signed the right claims under the consent type peage-consent+jws.",
    withSignature(await sign(JwsTypes.consent, claims, w.pki.publisher.keys, { x5c })),
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-signature-unknown-header",
    "A signature whose protected header carries jku, which Péage does not allow.",
    withSignature(
      await signRaw(
        { alg: w.alg, typ: JwsTypes.offerSignature, x5c, jku: "https://attacker.example/keys" },
        JSON.stringify(claims),
        w.pki.publisher.keys,
      ),
    ),
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-signature-crit",
    "A signature whose protected header carries crit (RFC 7515 §4.1.11).",
    withSignature(
      await signRaw(
        { alg: w.alg, typ: JwsTypes.offerSignature, x5c, crit: ["exp"], exp: 1 },
        JSON.stringify(claims),
        w.pki.publisher.keys,
      ),
    ),
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-signature-non-canonical-payload",
    "Properly signed by the publisher, but the payload is not RFC 8785 canonical JSON (members out of order, spaces).",
    withSignature(
      await signRaw(
        { alg: w.alg, typ: JwsTypes.offerSignature, x5c },
        JSON.stringify({ v: 1, price: claims.price, offerHash: claims.offerHash }, null, 1),
        w.pki.publisher.keys,
      ),
    ),
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-signature-infinite-number",
    "Signed by the publisher over a payload holding 1e400, which JSON parsers read as an infinity and RFC 8785 cannot write.",
    withSignature(
      await signRaw(
        { alg: w.alg, typ: JwsTypes.offerSignature, x5c },
        `{"offerHash":"${claims.offerHash}","price":{"amount":1e400,"currency":"EUR"},"v":1}`,
        w.pki.publisher.keys,
      ),
    ),
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-signature-kid-instead-of-x5c",
    "The publisher's signature names a key id instead of carrying its certificate chain.",
    withSignature(await sign(JwsTypes.offerSignature, claims, w.pki.publisher.keys, { kid: w.user.kid })),
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-x5c-not-a-certificate",
    "The x5c header holds base64 that is not a DER certificate.",
    withSignature(await sign(JwsTypes.offerSignature, claims, w.pki.publisher.keys, { x5c: ["AAAA", ...x5c.slice(1)] })),
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-signature-claims-extra-member",
    "The publisher signed claims with a member the schema does not have (a nonce).",
    withSignature(await sign(JwsTypes.offerSignature, { ...claims, nonce: offer.nonce }, w.pki.publisher.keys, { x5c })),
    ctx(),
    fails("ERR_MALFORMED"),
  );

  const [, payloadPart, signaturePart] = segments(entry.signature);
  add(
    "malformed-header-not-an-object",
    "A protected header that is valid JSON but an array, not an object.",
    withSignature([b64u(JSON.stringify([w.alg, JwsTypes.offerSignature])), payloadPart, signaturePart].join(".")),
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-payload-not-json",
    "Signed by the publisher over a payload that is not JSON.",
    withSignature(await signRaw({ alg: w.alg, typ: JwsTypes.offerSignature, x5c }, "offerHash=", w.pki.publisher.keys)),
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-header-x5c-and-kid",
    "A publisher signature whose header names the signer twice, by x5c and by kid.",
    withSignature(
      await signRaw(
        { alg: w.alg, typ: JwsTypes.offerSignature, x5c, kid: w.user.kid },
        JSON.stringify(claims),
        w.pki.publisher.keys,
      ),
    ),
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-x5c-empty",
    "A header whose x5c is an empty array.",
    withSignature(await sign(JwsTypes.offerSignature, claims, w.pki.publisher.keys, { x5c: [] })),
    ctx(),
    fails("ERR_MALFORMED"),
  );

  // Algorithms.
  const header = { typ: JwsTypes.offerSignature, x5c };
  add(
    "alg-checked-before-typ",
    "ES384 under the consent type: the algorithm is checked before the type (docs/protocol.md §4), so the code is ERR_UNSUPPORTED_ALGORITHM.",
    withSignature(await signRaw({ alg: "ES384", typ: JwsTypes.consent, x5c }, JSON.stringify(claims), w.pki.publisher.keys)),
    ctx(),
    fails("ERR_UNSUPPORTED_ALGORITHM"),
  );
  add(
    "alg-none",
    'An unsecured JWS (alg "none") with a junk signature segment.',
    withSignature(unsecured(header, claims, "c2ln")),
    ctx(),
    fails("ERR_UNSUPPORTED_ALGORITHM"),
  );
  add(
    "alg-none-empty-signature",
    'An unsecured JWS (alg "none") with the empty signature RFC 7519 §6.1 gives it: not three non-empty segments.',
    withSignature(unsecured(header, claims)),
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "alg-hs256",
    "HS256 keyed with the publisher certificate's DER (the public-key-as-HMAC-secret confusion).",
    withSignature(signHs256(header, claims, new Uint8Array(w.pki.publisher.certificate.rawData))),
    ctx(),
    fails("ERR_UNSUPPORTED_ALGORITHM"),
  );
  add(
    "alg-es384",
    "A header naming ES384, which Péage does not accept.",
    withSignature(await signRaw({ ...header, alg: "ES384" }, JSON.stringify(claims), w.pki.publisher.keys)),
    ctx(),
    fails("ERR_UNSUPPORTED_ALGORITHM"),
  );
  const otherAlg: SignatureAlgorithm = w.alg === "ES256" ? "EdDSA" : "ES256";
  add(
    "alg-mismatch",
    `The header says ${otherAlg} but the publisher's certificate holds a ${w.alg} key.`,
    withSignature(await signRaw({ ...header, alg: otherAlg }, JSON.stringify(claims), w.pki.publisher.keys)),
    ctx(),
    fails("ERR_UNSUPPORTED_ALGORITHM"),
  );

  // Signatures and issuers.
  const cheaper = { ...offer.terms, price: price(1, "EUR") };
  add(
    "forged-price-reused-signature",
    "The price lowered to 0.01 EUR in the terms, the hash and the signed claims, keeping the publisher's signature bytes.",
    {
      ...offer,
      terms: cheaper,
      offerHash: offerHash(cheaper),
      signature: withClaims(entry.signature, { v: PROTOCOL_VERSION, offerHash: offerHash(cheaper), price: cheaper.price }),
    },
    ctx(),
    fails("ERR_BAD_SIGNATURE"),
  );
  const forged = await entryFor(cheaper, w.mallory.key, x5c);
  add(
    "forged-price-own-key",
    "The price lowered and everything re-signed with the attacker's key, under the publisher's certificate chain.",
    { ...offer, ...forged },
    ctx(),
    fails("ERR_BAD_SIGNATURE"),
  );
  add(
    "flipped-signature-bit",
    "One bit of the signature changed.",
    withSignature(flipSignature(entry.signature)),
    ctx(),
    fails("ERR_BAD_SIGNATURE"),
  );
  add(
    "bad-signature-short",
    "The signature cut to 63 bytes (canonically encoded): both algorithms sign with exactly 64.",
    withSignature(
      withSegment(
        entry.signature,
        2,
        Buffer.from(segments(entry.signature)[2], "base64url").subarray(0, 63).toString("base64url"),
      ),
    ),
    ctx(),
    fails("ERR_BAD_SIGNATURE"),
  );
  add(
    "malformed-signature-respelled",
    "The same signature bytes with a non-zero unused bit in the last base64url character (RFC 4648 §3.5): not the canonical encoding.",
    withSignature(respellSignature(entry.signature)),
    ctx(),
    fails("ERR_MALFORMED"),
  );
  const rogue = await entryFor(offer.terms, w.rogue.publisher.keys, w.rogue.chainOf(w.rogue.publisher.certificate));
  add(
    "unknown-issuer-rogue-ca",
    "Signed under a rogue hierarchy that copies every name of the real one.",
    { ...offer, ...rogue },
    ctx(),
    fails("ERR_UNKNOWN_ISSUER"),
  );
  const selfSigned = await entryFor(offer.terms, w.extra.selfSignedPublisher.keys, [
    toX5c(w.extra.selfSignedPublisher.certificate),
  ]);
  add(
    "unknown-issuer-self-signed",
    "Signed with a self-signed certificate naming the publisher.",
    { ...offer, ...selfSigned },
    ctx(),
    fails("ERR_UNKNOWN_ISSUER"),
  );
  add(
    "unknown-issuer-missing-intermediate",
    "The chain holds the publisher's certificate alone, without the publishers' association.",
    withSignature(await sign(JwsTypes.offerSignature, claims, w.pki.publisher.keys, { x5c: x5c.slice(0, 1) })),
    ctx(),
    fails("ERR_UNKNOWN_ISSUER"),
  );
  const byServer = await entryFor(offer.terms, w.pki.server.keys, w.serverChain);
  add(
    "wrong-role-server-certificate",
    "Signed by the payment server, whose certificate has the acknowledgment role, not offer-signing.",
    { ...offer, ...byServer },
    ctx(),
    fails("ERR_WRONG_ROLE"),
  );

  const { late, early } = lateAndEarly(w);
  add(
    "certificate-expired",
    "An offer made and checked a day after the publisher's certificate expired.",
    offerAt(entry, late),
    { at: iso(at(late, 30 * SECOND)) },
    fails("ERR_CERT_EXPIRED"),
  );
  add(
    "certificate-not-yet-valid",
    "An offer made and checked a day before the publisher's certificate is valid.",
    offerAt(entry, early),
    { at: iso(at(early, 30 * SECOND)) },
    fails("ERR_CERT_NOT_YET_VALID"),
  );
  add(
    "revoked-publisher",
    "The publishers' association's CRL revokes the publisher's certificate.",
    offer,
    ctx({ crls: [c.crlNames.publishersRevokesPublisher] }),
    fails("ERR_REVOKED"),
  );
  add(
    "revoked-intermediate",
    "The root's CRL revokes the publishers' association.",
    offer,
    ctx({ crls: [c.crlNames.rootRevokesPublishersCa] }),
    fails("ERR_REVOKED"),
  );
  const stale = at(VECTORS_NOW, 40 * DAY);
  add(
    "revocation-unknown-stale-crl",
    "The only CRL of the publishers' association is past its nextUpdate.",
    offerAt(entry, stale),
    { at: iso(at(stale, 30 * SECOND)), crls: [c.crlNames.publishersEmpty] },
    fails("ERR_REVOCATION_UNKNOWN"),
  );
  add(
    "revocation-unknown-required",
    'The "require" policy with no CRL loaded.',
    offer,
    ctx({ revocation: "require" }),
    fails("ERR_REVOCATION_UNKNOWN"),
  );

  // The terms against the hash and the signature.
  add(
    "hash-mismatch-description",
    "The description changed after signing.",
    { ...offer, terms: { ...offer.terms, description: "Start one game of Acme Racer (free)" } },
    ctx(),
    fails("ERR_HASH_MISMATCH"),
  );
  add(
    "hash-mismatch-price-in-terms",
    "The price in the terms lowered; hash and signature untouched.",
    { ...offer, terms: cheaper },
    ctx(),
    fails("ERR_HASH_MISMATCH"),
  );
  add(
    "hash-mismatch-recomputed-hash",
    "The price in the terms lowered and offerHash recomputed; the publisher signed the original hash.",
    { ...offer, terms: cheaper, offerHash: offerHash(cheaper) },
    ctx(),
    fails("ERR_HASH_MISMATCH"),
  );
  add(
    "hash-mismatch-signature-of-another-offer",
    "The terms of one offer with the publisher's signature of another.",
    withSignature(w.entries["day-pass"]!.signature),
    ctx(),
    fails("ERR_HASH_MISMATCH"),
  );
  add(
    "price-mismatch",
    "The publisher's key signed the right hash with another price (e.g. a faulty signing tool).",
    withSignature(await sign(JwsTypes.offerSignature, { ...claims, price: price(5, "EUR") }, w.pki.publisher.keys, { x5c })),
    ctx(),
    fails("ERR_PRICE_MISMATCH"),
  );
  const foreignTerms = { ...offer.terms, publisher: OTHER_PUBLISHER };
  add(
    "identity-mismatch",
    "Terms naming another publisher, hashed and signed by acme-games.",
    { ...offer, ...(await entryFor(foreignTerms, w.pki.publisher.keys, x5c)) },
    ctx(),
    fails("ERR_IDENTITY_MISMATCH"),
  );

  // Time.
  const expiry = new Date(offer.expiresAt);
  add(
    "expired",
    `Checked 1 ms past expiresAt plus the ${minutes(SKEW)} clock skew.`,
    offer,
    { at: iso(at(expiry, SKEW + 1)) },
    fails("ERR_MESSAGE_EXPIRED"),
  );
  add(
    "expired-boundary",
    `Checked exactly at expiresAt plus the ${minutes(SKEW)} skew: still valid.`,
    offer,
    { at: iso(at(expiry, SKEW)) },
    valid,
  );
  add(
    "not-yet-valid",
    `Dated 1 ms beyond the ${minutes(SKEW)} skew in the verifier's future.`,
    offerAt(entry, at(now, SKEW + 1)),
    ctx(),
    fails("ERR_MESSAGE_NOT_YET_VALID"),
  );
  add(
    "not-yet-valid-boundary",
    `Dated exactly ${minutes(SKEW)} in the verifier's future: still valid.`,
    offerAt(entry, at(now, SKEW)),
    ctx(),
    valid,
  );
}

async function catalogCases(c: Cases): Promise<void> {
  const w = c.world;
  const catalog = w.catalog;
  const now = T;
  const ctx = (more: Partial<VectorContext> = {}): VectorContext => ({ at: iso(now), ...more });
  const add = (name: string, description: string, input: unknown, context: VectorContext, expected: VectorExpectation) =>
    c.add("catalog", name, description, input, context, expected);
  const replace = (index: number, entry: CatalogEntry) => ({
    ...catalog,
    offers: catalog.offers.map((item, i) => (i === index ? entry : item)),
  });
  const second = catalog.offers[1]!;

  add("valid", "A catalog of three offers: a launch, a 24-hour period, an event.", catalog, ctx(), valid);
  add(
    "valid-with-crl",
    "The same catalog with the publishers' association's (empty) CRL loaded.",
    catalog,
    ctx({ crls: [c.crlNames.publishersEmpty] }),
    valid,
  );
  add(
    "valid-description-like-a-date",
    "A description that reads like an impossible timestamp: free text is never checked as a date.",
    {
      ...catalog,
      offers: [
        await entryFor(
          { ...catalog.offers[0]!.terms, offerId: "odd", description: "2026-02-30T09:00:00.000Z" },
          w.pki.publisher.keys,
          w.publisherChain,
        ),
      ],
    },
    ctx(),
    valid,
  );
  const session = { ...catalog.offers[0]!.terms, offerId: "live", price: price(500, "EUR"), upto: true as const };
  add(
    "valid-metered-session",
    "An offer charged by use (upto), a metered session of 1-cent ticks with a cap of 5 euros (protocol.md §3.12).",
    { ...catalog, offers: [await entryFor({ ...session, tick: price(1, "EUR") }, w.pki.publisher.keys, w.publisherChain)] },
    ctx(),
    valid,
  );
  const tickAlone = { ...catalog.offers[0]!.terms, offerId: "live", tick: price(1, "EUR") };
  const tickHash = offerHash(tickAlone);
  add(
    "malformed-tick-without-upto",
    "A tick price on an offer whose price is not a maximum (no upto), correctly signed: §3.12 refuses it.",
    {
      ...catalog,
      offers: [
        {
          terms: tickAlone,
          offerHash: tickHash,
          signature: await sign(
            JwsTypes.offerSignature,
            { v: 1, offerHash: tickHash, price: tickAlone.price },
            w.pki.publisher.keys,
            { x5c: w.publisherChain },
          ),
        },
      ],
    },
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add("malformed-not-an-object", "An array where a catalog object is expected.", catalog.offers, ctx(), fails("ERR_MALFORMED"));
  add("malformed-empty", "A catalog without offers.", { ...catalog, offers: [] }, ctx(), fails("ERR_MALFORMED"));
  add("malformed-wrong-type", 'type is not "peage.catalog".', { ...catalog, type: "peage.offer" }, ctx(), fails("ERR_MALFORMED"));
  add(
    "malformed-duplicate-offer-id",
    "The same offer listed twice.",
    { ...catalog, offers: [...catalog.offers, catalog.offers[0]!] },
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-entry-extra-member",
    "An entry with an unknown member.",
    replace(1, { ...second, nonce: "AAAAAAAAAAAAAAAAAAAAAA" } as CatalogEntry),
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-period-zero",
    "A period grant of 0 seconds.",
    replace(1, { ...second, terms: { ...second.terms, grant: { kind: "period", seconds: 0 } } }),
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "hash-mismatch-description",
    "The second entry's description changed after signing.",
    replace(1, { ...second, terms: { ...second.terms, description: "Play Acme Racer for a week" } }),
    ctx(),
    fails("ERR_HASH_MISMATCH"),
  );
  add(
    "hash-mismatch-grant",
    "The second entry's period lengthened to a year after signing.",
    replace(1, { ...second, terms: { ...second.terms, grant: { kind: "period", seconds: 365 * 86_400 } } }),
    ctx(),
    fails("ERR_HASH_MISMATCH"),
  );
  const claims = claimsOf<OfferSignatureClaims>(second.signature);
  add(
    "price-mismatch",
    "The second entry's signature covers its hash but another price.",
    replace(1, {
      ...second,
      signature: await sign(JwsTypes.offerSignature, { ...claims, price: price(1, "EUR") }, w.pki.publisher.keys, {
        x5c: w.publisherChain,
      }),
    }),
    ctx(),
    fails("ERR_PRICE_MISMATCH"),
  );
  const otherTerms = { ...second.terms, publisher: OTHER_PUBLISHER };
  add(
    "identity-mismatch-entry-of-another-publisher",
    "An entry of other-studio, correctly signed by other-studio, inside acme-games's catalog.",
    replace(1, await entryFor(otherTerms, w.extra.otherPublisher.keys, w.pki.chainOf(w.extra.otherPublisher.certificate))),
    ctx(),
    fails("ERR_IDENTITY_MISMATCH"),
  );
  const impersonated = await Promise.all(
    catalog.offers.map((entry) =>
      entryFor({ ...entry.terms, publisher: OTHER_PUBLISHER }, w.pki.publisher.keys, w.publisherChain),
    ),
  );
  add(
    "identity-mismatch-signer",
    "A catalog in other-studio's name, signed by acme-games.",
    { ...catalog, publisher: OTHER_PUBLISHER, offers: impersonated },
    ctx(),
    fails("ERR_IDENTITY_MISMATCH"),
  );
  add(
    "bad-signature",
    "The second entry's signature bytes altered.",
    replace(1, { ...second, signature: flipSignature(second.signature) }),
    ctx(),
    fails("ERR_BAD_SIGNATURE"),
  );
  add(
    "alg-none",
    "The second entry's signature replaced by an unsecured JWS.",
    replace(1, { ...second, signature: unsecured({ typ: JwsTypes.offerSignature, x5c: w.publisherChain }, claims, "c2ln") }),
    ctx(),
    fails("ERR_UNSUPPORTED_ALGORITHM"),
  );
  const rogueChain = w.rogue.chainOf(w.rogue.publisher.certificate);
  add(
    "unknown-issuer",
    "Signed under a rogue hierarchy with the same names.",
    { ...catalog, offers: await Promise.all(catalog.offers.map((e) => entryFor(e.terms, w.rogue.publisher.keys, rogueChain))) },
    ctx(),
    fails("ERR_UNKNOWN_ISSUER"),
  );
  add(
    "wrong-role",
    "Signed by the payment server's key and chain.",
    { ...catalog, offers: await Promise.all(catalog.offers.map((e) => entryFor(e.terms, w.pki.server.keys, w.serverChain))) },
    ctx(),
    fails("ERR_WRONG_ROLE"),
  );
  const { late, early } = lateAndEarly(w);
  add(
    "certificate-expired",
    "Checked after the publisher's certificate expired.",
    catalog,
    { at: iso(late) },
    fails("ERR_CERT_EXPIRED"),
  );
  add(
    "certificate-not-yet-valid",
    "Checked before the publisher's certificate is valid.",
    catalog,
    { at: iso(early) },
    fails("ERR_CERT_NOT_YET_VALID"),
  );
  add(
    "revoked",
    "The publisher's certificate is revoked.",
    catalog,
    ctx({ crls: [c.crlNames.publishersRevokesPublisher] }),
    fails("ERR_REVOKED"),
  );
}

async function paymentRequestCases(c: Cases, otherAlgUser: World["user"]): Promise<void> {
  const w = c.world;
  const entry = w.entries["launch"]!;
  const offer = offerAt(entry, T);
  const consentAt = at(T, MINUTE);
  const request = await requestAt(offer, w.user, consentAt);
  const now = at(consentAt, SECOND);
  const ctx = (more: Partial<VectorContext> = {}): VectorContext => ({ at: iso(now), server: SERVER, ...more });
  const consent = claimsOf<Record<string, unknown>>(request.consent);
  const userHeader = { typ: JwsTypes.consent, kid: w.user.kid };
  const withConsent = (token: string): PaymentRequest => ({ ...request, consent: token });
  const userSigns = (claims: unknown) => sign(JwsTypes.consent, claims, w.user.key, { kid: w.user.kid });
  const add = (name: string, description: string, input: unknown, context: VectorContext, expected: VectorExpectation) =>
    c.add("payment-request", name, description, input, context, expected);

  add("valid", "The user's consent to a launch offer, checked by the server it names one second later.", request, ctx(), valid);
  add(
    "valid-other-user-algorithm",
    `A consent signed with a ${otherAlgUser.key.alg} user key.`,
    await requestAt(offer, otherAlgUser, consentAt),
    ctx(),
    valid,
  );
  add(
    "valid-with-crl",
    "A valid request with the publishers' association's (empty) CRL loaded.",
    request,
    ctx({ crls: [c.crlNames.publishersEmpty] }),
    valid,
  );

  add(
    "malformed-not-an-object",
    "A JWS string where the request object is expected.",
    request.consent,
    ctx(),
    fails("ERR_MALFORMED"),
  );
  const { consent: _consent, ...withoutConsent } = request;
  add("malformed-missing-consent", "The consent member is missing.", withoutConsent, ctx(), fails("ERR_MALFORMED"));
  add(
    "malformed-extra-member",
    "An unknown member next to signature and consent.",
    { ...request, offer },
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-wrong-type",
    'type is not "peage.payment-request".',
    { ...request, type: "peage.acknowledgment" },
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-wrong-version",
    "The version member v is 2; this is version 1.",
    { ...request, v: 2 },
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add("malformed-consent-not-a-jws", "The consent is not a compact JWS.", withConsent("a.b"), ctx(), fails("ERR_MALFORMED"));
  add(
    "malformed-consent-x5c-instead-of-kid",
    "The user's key signed the consent but the header carries an x5c chain, not a kid.",
    withConsent(await sign(JwsTypes.consent, consent, w.user.key, { x5c: w.publisherChain })),
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-consent-kid-not-thumbprint",
    "The kid is a free-form name, not an RFC 7638 thumbprint.",
    withConsent(
      await signRaw({ alg: w.user.key.alg, typ: JwsTypes.consent, kid: "alice-phone" }, JSON.stringify(consent), w.user.key),
    ),
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-consent-wrong-typ",
    "The consent is signed under the acknowledgment type.",
    withConsent(await sign(JwsTypes.acknowledgment, consent, w.user.key, { kid: w.user.kid })),
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-consent-duplicate-typ",
    "The user's key signed a consent whose protected header names typ twice (the acknowledgment type, then the consent type): a parser keeping the first reads another message kind.",
    withConsent(
      await signRawText(
        duplicateTyp(w.user.key.alg, JwsTypes.acknowledgment, JwsTypes.consent, `"kid":${JSON.stringify(w.user.kid)}`),
        canonicalJson(consent),
        w.user.key,
      ),
    ),
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-consent-duplicate-nonce",
    "The user signed claims naming nonce twice (another offer's nonce, then this one's): a parser keeping the first reads another payment.",
    withConsent(
      await signRaw({ alg: w.user.key.alg, ...userHeader }, duplicateMember(consent, "nonce", OTHER_NONCE), w.user.key),
    ),
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-consent-extra-claim",
    "The user signed claims with an extra member.",
    withConsent(await userSigns({ ...consent, note: "thanks" })),
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-consent-missing-claim",
    "The user signed claims without the server.",
    withConsent(await userSigns({ ...consent, server: undefined })),
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-consent-lifetime-too-long",
    `A consent valid for 1 ms more than ${minutes(MAX_CONSENT_TTL_MS)}, the longest lifetime.`,
    withConsent(await userSigns({ ...consent, expiresAt: iso(at(consentAt, MAX_CONSENT_TTL_MS + 1)) })),
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-consent-non-canonical",
    "A consent properly signed by the user over non-canonical JSON (pretty-printed).",
    withConsent(await signRaw({ alg: w.user.key.alg, ...userHeader }, JSON.stringify(consent, null, 2), w.user.key)),
    ctx(),
    fails("ERR_MALFORMED"),
  );

  add(
    "alg-none",
    "An unsecured consent with a junk signature segment.",
    withConsent(unsecured(userHeader, consent, "c2ln")),
    ctx(),
    fails("ERR_UNSUPPORTED_ALGORITHM"),
  );
  add(
    "alg-hs256",
    "An HS256 consent keyed with the user's kid.",
    withConsent(signHs256(userHeader, consent, Buffer.from(w.user.kid))),
    ctx(),
    fails("ERR_UNSUPPORTED_ALGORITHM"),
  );
  const otherAlg: SignatureAlgorithm = w.user.key.alg === "ES256" ? "EdDSA" : "ES256";
  add(
    "alg-mismatch",
    `The header says ${otherAlg}; the enrolled key is ${w.user.key.alg}.`,
    withConsent(await signRaw({ ...userHeader, alg: otherAlg }, JSON.stringify(consent), w.user.key)),
    ctx(),
    fails("ERR_UNSUPPORTED_ALGORITHM"),
  );

  add(
    "unknown-key-attacker",
    "A consent in alice's name signed with a key (and kid) that is not enrolled for her.",
    withConsent(await sign(JwsTypes.consent, consent, w.mallory.key, { kid: w.mallory.kid })),
    ctx(),
    fails("ERR_UNKNOWN_KEY"),
  );
  const bob = await makeUser("bob", w.alg);
  add(
    "unknown-key-unenrolled-user",
    "A consent of a user with no enrolled key.",
    await requestAt(offer, bob, consentAt),
    ctx(),
    fails("ERR_UNKNOWN_KEY"),
  );
  add(
    "bad-signature-lowered-price",
    "The consent's price lowered after the user signed.",
    withConsent(withClaims(request.consent, { ...consent, price: price(1, "EUR") })),
    ctx(),
    fails("ERR_BAD_SIGNATURE"),
  );
  add(
    "bad-signature-attacker-key-user-kid",
    "Signed with an attacker's key under alice's kid.",
    withConsent(await sign(JwsTypes.consent, consent, w.mallory.key, { kid: w.user.kid })),
    ctx(),
    fails("ERR_BAD_SIGNATURE"),
  );
  add(
    "bad-signature-flipped-bit",
    "One bit of the consent's signature changed.",
    withConsent(flipSignature(request.consent)),
    ctx(),
    fails("ERR_BAD_SIGNATURE"),
  );
  add(
    "malformed-consent-infinite-number",
    "Signed by the user over a payload whose price holds 1e400 (an infinity once parsed).",
    withConsent(
      await signRaw(
        { alg: w.user.key.alg, ...userHeader },
        JSON.stringify(consent).replace('"amount":50', '"amount":1e400'),
        w.user.key,
      ),
    ),
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-consent-respelled",
    "The consent's signature bytes spelled with a non-zero unused bit (RFC 4648 §3.5).",
    withConsent(respellSignature(request.consent)),
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "wrong-audience",
    "A consent made out to pay-us, presented to pay-eu.",
    await requestAt(offer, w.user, consentAt, OTHER_SERVER),
    ctx(),
    fails("ERR_WRONG_AUDIENCE"),
  );

  const consentExpiry = new Date(consent["expiresAt"] as string);
  add(
    "expired-consent",
    `Checked 1 ms past the consent's expiresAt plus the ${minutes(SKEW)} skew.`,
    request,
    ctx({ at: iso(at(consentExpiry, SKEW + 1)) }),
    fails("ERR_MESSAGE_EXPIRED"),
  );
  add(
    "consent-from-the-future",
    "consentedAt 1 s beyond the skew in the server's future.",
    await requestAt(offer, w.user, at(now, SKEW + SECOND)),
    ctx(),
    fails("ERR_MESSAGE_NOT_YET_VALID"),
  );
  const datedOffer = async (offset: number) => requestAt(offerAt(entry, at(now, offset)), w.user, at(now, -SECOND));
  add(
    "offer-date-too-old",
    `A fresh consent to an offer dated 1 ms more than ${minutes(DEFAULT_OFFER_DATE_TOLERANCE_MS)} (the longest offer lifetime plus the skew) before the server's clock.`,
    await datedOffer(-DEFAULT_OFFER_DATE_TOLERANCE_MS - 1),
    ctx(),
    fails("ERR_MESSAGE_EXPIRED"),
  );
  add(
    "offer-date-oldest",
    `A fresh consent to an offer dated exactly ${minutes(DEFAULT_OFFER_DATE_TOLERANCE_MS)} before the server's clock.`,
    await datedOffer(-DEFAULT_OFFER_DATE_TOLERANCE_MS),
    ctx(),
    valid,
  );
  add(
    "offer-date-in-the-future",
    `An offer dated 1 ms more than the ${minutes(SKEW)} skew after the server's clock.`,
    await datedOffer(SKEW + 1),
    ctx(),
    fails("ERR_MESSAGE_NOT_YET_VALID"),
  );
  add(
    "offer-date-future-within-skew",
    `An offer dated exactly the ${minutes(SKEW)} skew after the server's clock.`,
    await datedOffer(SKEW),
    ctx(),
    valid,
  );

  // The publisher's signature inside the request.
  const withSignature = (signature: string): PaymentRequest => ({ ...request, signature });
  const signed = claimsOf<OfferSignatureClaims>(request.signature);
  add(
    "publisher-bad-signature",
    "The publisher's signature altered.",
    withSignature(flipSignature(request.signature)),
    ctx(),
    fails("ERR_BAD_SIGNATURE"),
  );
  add(
    "publisher-alg-none",
    "The publisher's signature replaced by an unsecured JWS.",
    withSignature(unsecured({ typ: JwsTypes.offerSignature, x5c: w.publisherChain }, signed, "c2ln")),
    ctx(),
    fails("ERR_UNSUPPORTED_ALGORITHM"),
  );
  const rogueEntry = await entryFor(entry.terms, w.rogue.publisher.keys, w.rogue.chainOf(w.rogue.publisher.certificate));
  add(
    "publisher-unknown-issuer",
    "The offer was signed under a rogue hierarchy.",
    await requestAt({ ...offer, ...rogueEntry }, w.user, consentAt),
    ctx(),
    fails("ERR_UNKNOWN_ISSUER"),
  );
  const serverEntry = await entryFor(entry.terms, w.pki.server.keys, w.serverChain);
  add(
    "publisher-wrong-role",
    "The offer was signed with the payment server's certificate.",
    await requestAt({ ...offer, ...serverEntry }, w.user, consentAt),
    ctx(),
    fails("ERR_WRONG_ROLE"),
  );
  add(
    "publisher-revoked",
    "The publisher's certificate is revoked.",
    request,
    ctx({ crls: [c.crlNames.publishersRevokesPublisher] }),
    fails("ERR_REVOKED"),
  );
  const { late, early } = lateAndEarly(w);
  add(
    "publisher-certificate-expired",
    "Offer, consent and check a day after the publisher's certificate expired.",
    await requestAt(offerAt(entry, late), w.user, at(late, MINUTE)),
    ctx({ at: iso(at(late, MINUTE + SECOND)) }),
    fails("ERR_CERT_EXPIRED"),
  );
  add(
    "publisher-certificate-not-yet-valid",
    "Offer, consent and check a day before the publisher's certificate is valid.",
    await requestAt(offerAt(entry, early), w.user, at(early, MINUTE)),
    ctx({ at: iso(at(early, MINUTE + SECOND)) }),
    fails("ERR_CERT_NOT_YET_VALID"),
  );

  // The consent against what the publisher signed.
  add(
    "identity-mismatch",
    "The consent names other-studio; the offer was signed by acme-games.",
    await requestAt({ ...offer, terms: { ...offer.terms, publisher: OTHER_PUBLISHER } }, w.user, consentAt),
    ctx(),
    fails("ERR_IDENTITY_MISMATCH"),
  );
  const dayPass = offerAt(w.entries["day-pass"]!, T);
  add(
    "hash-mismatch",
    "A consent to the day pass sent with the publisher's signature of the single launch.",
    { ...(await requestAt(dayPass, w.user, consentAt)), signature: entry.signature },
    ctx(),
    fails("ERR_HASH_MISMATCH"),
  );
  add(
    "price-mismatch",
    "The wallet showed (and the user signed) 0.01 EUR for an offer the publisher signed at 0.50 EUR.",
    await requestAt({ ...offer, terms: { ...offer.terms, price: price(1, "EUR") } }, w.user, consentAt),
    ctx(),
    fails("ERR_PRICE_MISMATCH"),
  );
}

async function acknowledgmentCases(c: Cases): Promise<void> {
  const w = c.world;
  const entry = w.entries["launch"]!;
  const offer = offerAt(entry, T);
  const request = await requestAt(offer, w.user, at(T, MINUTE));
  const ackTime = at(T, MINUTE + 2 * SECOND);
  const ack = await ackAt(w, request, ackTime);
  const now = at(ackTime, SECOND);
  const ctx = (more: Partial<VectorContext> = {}): VectorContext => ({ at: iso(now), offer, ...more });
  const claims = claimsOf<Record<string, unknown>>(ack.acknowledgment);
  const x5c = w.serverChain;
  const serverSigns = async (changed: unknown): Promise<Acknowledgment> => ({
    ...ack,
    acknowledgment: await sign(JwsTypes.acknowledgment, changed, w.pki.server.keys, { x5c }),
  });
  const withToken = (token: string): Acknowledgment => ({ ...ack, acknowledgment: token });
  const add = (name: string, description: string, input: unknown, context: VectorContext, expected: VectorExpectation) =>
    c.add("acknowledgment", name, description, input, context, expected);

  add("valid", "The payment server's acknowledgment, checked by the merchant against the offer it sent.", ack, ctx(), valid);
  add("valid-expected-server", "The same, with the merchant accepting only pay-eu.", ack, ctx({ server: SERVER }), valid);
  add(
    "valid-converted",
    "Charged in the user's home currency (USD) at a recorded rate.",
    await ackAt(w, request, ackTime, { charged: price(54, "USD"), rate: "1.0800000000" }),
    ctx(),
    valid,
  );
  add(
    "valid-with-crl",
    "Checked with the regulator's (empty) CRL loaded.",
    ack,
    ctx({ crls: [c.crlNames.regulatorEmpty] }),
    valid,
  );
  const signedFor = async (servers: PartyId<"server">[]): Promise<{ offer: Offer; ack: Acknowledgment }> => {
    const narrowed = offerAt(await entryFor({ ...entry.terms, servers }, w.pki.publisher.keys, w.publisherChain), T);
    return { offer: narrowed, ack: await ackAt(w, await requestAt(narrowed, w.user, at(T, MINUTE)), ackTime) };
  };
  const among = await signedFor([OTHER_SERVER, SERVER]);
  add(
    "valid-signed-servers",
    "The signed terms accept pay-us and pay-eu; pay-eu acknowledged, and the merchant names no server itself.",
    among.ack,
    ctx({ offer: among.offer }),
    valid,
  );
  const elsewhere = await signedFor([OTHER_SERVER]);
  add(
    "wrong-audience-signed-servers",
    "The signed terms accept pay-us only; pay-eu, certified as well, acknowledged. Refused although the merchant names no server itself.",
    elsewhere.ack,
    ctx({ offer: elsewhere.offer }),
    fails("ERR_WRONG_AUDIENCE"),
  );

  await cardAcknowledgmentCases(c, request, ackTime, ctx);

  add(
    "malformed-not-an-object",
    "The bare JWS where the acknowledgment object is expected.",
    ack.acknowledgment,
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-server-with-debit",
    "The payment server's acknowledgment carrying a card's proof of debit (§3.9: only a card puts debit).",
    await serverSigns({ ...claims, debit: { counter: 7, balance: 450 } }),
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-wrong-type",
    'type is not "peage.acknowledgment".',
    { ...ack, type: "peage.offer" },
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add("malformed-extra-member", "An unknown member.", { ...ack, paid: true }, ctx(), fails("ERR_MALFORMED"));
  add("malformed-not-a-jws", "The acknowledgment is not a compact JWS.", withToken("ack.ack"), ctx(), fails("ERR_MALFORMED"));
  add(
    "malformed-kid-instead-of-x5c",
    "Signed by the server's key but naming a kid instead of carrying the chain.",
    withToken(await sign(JwsTypes.acknowledgment, claims, w.pki.server.keys, { kid: w.user.kid })),
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-wrong-typ",
    "The server's key signed the claims under the consent type.",
    withToken(await sign(JwsTypes.consent, claims, w.pki.server.keys, { x5c })),
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-extra-claim",
    "The server signed claims with an unknown member.",
    await serverSigns({ ...claims, bonus: 1 }),
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-duplicate-typ",
    "The server's key signed the claims under a protected header naming typ twice (the consent type, then the acknowledgment type).",
    withToken(
      await signRawText(
        duplicateTyp(w.alg, JwsTypes.consent, JwsTypes.acknowledgment, `"x5c":${JSON.stringify(x5c)}`),
        canonicalJson(claims),
        w.pki.server.keys,
      ),
    ),
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-duplicate-nonce",
    "The server signed claims naming nonce twice (another offer's nonce, then this one's).",
    withToken(
      await signRaw(
        { alg: w.alg, typ: JwsTypes.acknowledgment, x5c },
        duplicateMember(claims, "nonce", OTHER_NONCE),
        w.pki.server.keys,
      ),
    ),
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-charged-currency",
    "The server signed a charged amount in a currency outside ISO 4217.",
    await serverSigns({ ...claims, charged: { amount: 50, currency: "XBT" } }),
    ctx(),
    fails("ERR_MALFORMED"),
  );

  const header = { typ: JwsTypes.acknowledgment, x5c };
  add(
    "alg-none",
    "An unsecured acknowledgment with a junk signature segment.",
    withToken(unsecured(header, claims, "c2ln")),
    ctx(),
    fails("ERR_UNSUPPORTED_ALGORITHM"),
  );
  add(
    "alg-hs256",
    "HS256 keyed with the server certificate's DER.",
    withToken(signHs256(header, claims, new Uint8Array(w.pki.server.certificate.rawData))),
    ctx(),
    fails("ERR_UNSUPPORTED_ALGORITHM"),
  );
  const otherAlg: SignatureAlgorithm = w.alg === "ES256" ? "EdDSA" : "ES256";
  add(
    "alg-mismatch",
    `The header says ${otherAlg}; the server's key is ${w.alg}.`,
    withToken(await signRaw({ ...header, alg: otherAlg }, JSON.stringify(claims), w.pki.server.keys)),
    ctx(),
    fails("ERR_UNSUPPORTED_ALGORITHM"),
  );

  add(
    "bad-signature-altered-claims",
    "The paymentId changed after the server signed.",
    withToken(withClaims(ack.acknowledgment, { ...claims, paymentId: "pay_other" })),
    ctx(),
    fails("ERR_BAD_SIGNATURE"),
  );
  add(
    "bad-signature-attacker-key",
    "Made by a wallet with its own key, under the server's certificate chain.",
    withToken(await sign(JwsTypes.acknowledgment, claims, w.mallory.key, { x5c })),
    ctx(),
    fails("ERR_BAD_SIGNATURE"),
  );
  add(
    "bad-signature-flipped-bit",
    "One bit of the signature changed.",
    withToken(flipSignature(ack.acknowledgment)),
    ctx(),
    fails("ERR_BAD_SIGNATURE"),
  );
  add(
    "malformed-respelled",
    "The signature bytes spelled with a non-zero unused bit (RFC 4648 §3.5).",
    withToken(respellSignature(ack.acknowledgment)),
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "unknown-issuer",
    "Signed by a rogue payment server under a hierarchy that copies the real names.",
    withToken(
      await sign(JwsTypes.acknowledgment, claims, w.rogue.server.keys, { x5c: w.rogue.chainOf(w.rogue.server.certificate) }),
    ),
    ctx(),
    fails("ERR_UNKNOWN_ISSUER"),
  );
  add(
    "wrong-role-publisher-certificate",
    "The publisher's key and chain sign an acknowledgment.",
    withToken(await sign(JwsTypes.acknowledgment, claims, w.pki.publisher.keys, { x5c: w.publisherChain })),
    ctx(),
    fails("ERR_WRONG_ROLE"),
  );
  add(
    "revoked-server",
    "The regulator's CRL revokes the server's certificate.",
    ack,
    ctx({ crls: [c.crlNames.regulatorRevokesServer] }),
    fails("ERR_REVOKED"),
  );
  const { late, early } = lateAndEarly(w);
  for (const [name, when, code, what] of [
    ["certificate-expired", late, "ERR_CERT_EXPIRED", "a day after the server's certificate expired"],
    ["certificate-not-yet-valid", early, "ERR_CERT_NOT_YET_VALID", "a day before the server's certificate is valid"],
  ] as const) {
    const shifted = offerAt(entry, when);
    const shiftedAck = await ackAt(w, await requestAt(shifted, w.user, at(when, MINUTE)), at(when, MINUTE + SECOND));
    add(
      name,
      `Offer, payment and check ${what}.`,
      shiftedAck,
      { at: iso(at(when, MINUTE + 2 * SECOND)), offer: shifted },
      fails(code),
    );
  }

  add(
    "identity-mismatch-server",
    "Signed by pay-eu but naming pay-us as the server.",
    await serverSigns({ ...claims, server: OTHER_SERVER }),
    ctx(),
    fails("ERR_IDENTITY_MISMATCH"),
  );
  add(
    "identity-mismatch-publisher",
    "Naming another publisher than the offer's.",
    await serverSigns({ ...claims, publisher: OTHER_PUBLISHER }),
    ctx(),
    fails("ERR_IDENTITY_MISMATCH"),
  );
  add(
    "wrong-audience",
    "The merchant accepts acknowledgments from pay-us only.",
    ack,
    ctx({ server: OTHER_SERVER }),
    fails("ERR_WRONG_AUDIENCE"),
  );
  add(
    "hash-mismatch",
    "An acknowledgment of the launch offer presented for a day-pass offer.",
    ack,
    ctx({ offer: offerAt(w.entries["day-pass"]!, T) }),
    fails("ERR_HASH_MISMATCH"),
  );
  add(
    "price-mismatch",
    "The server acknowledged another price for the offer's hash.",
    await serverSigns({ ...claims, price: price(1, "EUR") }),
    ctx(),
    fails("ERR_PRICE_MISMATCH"),
  );
  const nextInstance = offerAt(entry, at(T, 30 * SECOND));
  add(
    "nonce-mismatch-replay",
    "An earlier acknowledgment of the same catalog offer replayed for a new instance (another nonce).",
    ack,
    ctx({ offer: nextInstance }),
    fails("ERR_NONCE_MISMATCH"),
  );
  const nonceSwapped = await ackAt(w, await requestAt({ ...offer, nonce: nextInstance.nonce }, w.user, at(T, MINUTE)), ackTime);
  add(
    "nonce-mismatch-wallet",
    "The wallet replaced the offer's nonce before asking for consent; the server acknowledged what was consented.",
    nonceSwapped,
    ctx(),
    fails("ERR_NONCE_MISMATCH"),
  );
  const dateShifted = await ackAt(
    w,
    await requestAt({ ...offer, date: timestamp(at(T, -SECOND)) }, w.user, at(T, MINUTE)),
    ackTime,
  );
  add(
    "date-mismatch",
    "The wallet changed the offer's date before asking for consent; nonce and hash are the offer's.",
    dateShifted,
    ctx(),
    fails("ERR_DATE_MISMATCH"),
  );
  const expiry = new Date(offer.expiresAt);
  add(
    "expired-offer",
    `Presented 1 ms after the offer's expiresAt plus the ${minutes(SKEW)} grace.`,
    ack,
    ctx({ at: iso(at(expiry, SKEW + 1)) }),
    fails("ERR_MESSAGE_EXPIRED"),
  );
  add(
    "expired-offer-boundary",
    "Presented exactly at the offer's expiresAt plus the grace: still accepted.",
    ack,
    ctx({ at: iso(at(expiry, SKEW)) }),
    valid,
  );
}

/** Message 3 signed by a smart card (offline variant, docs/card.md): its debit and its issuer's rules. */
async function cardAcknowledgmentCases(
  c: Cases,
  request: PaymentRequest,
  ackTime: Date,
  ctx: (more?: Partial<VectorContext>) => VectorContext,
): Promise<void> {
  const w = c.world;
  const add = (name: string, description: string, input: unknown, context: VectorContext, expected: VectorExpectation) =>
    c.add("acknowledgment", name, description, input, context, expected);
  const debit = { counter: 7, balance: 450 };
  const cardAck = await cardAckAt(w, request, ackTime, debit);
  add(
    "valid-card",
    "Signed by the user's smart card with its proof of debit; the merchant expects the card's issuing server.",
    cardAck,
    ctx({ server: SERVER }),
    valid,
  );
  add(
    "card-not-accepted",
    "A card's acknowledgment at a merchant that accepts only payment servers.",
    cardAck,
    ctx({ acceptCards: false }),
    fails("ERR_WRONG_ROLE"),
  );
  add(
    "malformed-card-without-debit",
    "A card's acknowledgment without the proof of debit (claims 6-7).",
    await cardAckAt(w, request, ackTime, undefined),
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "wrong-role-card-under-non-issuer",
    "A card certified by a CA that may certify card acknowledgments but is not a card issuer.",
    await cardAckAt(w, request, ackTime, debit, w.card.chainUnderNonIssuer),
    ctx(),
    fails("ERR_WRONG_ROLE"),
  );
  add(
    "wrong-role-card-issuer-without-server",
    "A card certified by a card issuer that names no payment server.",
    await cardAckAt(w, request, ackTime, debit, w.card.chainUnderAnonymousIssuer),
    ctx(),
    fails("ERR_WRONG_ROLE"),
  );
  add(
    "wrong-audience-card-of-another-server",
    "A card of pay-eu at a merchant that accepts pay-us only.",
    cardAck,
    ctx({ server: OTHER_SERVER }),
    fails("ERR_WRONG_AUDIENCE"),
  );
}

async function chainCases(c: Cases): Promise<void> {
  const w = c.world;
  const { pki, extra } = w;
  const x = toX5c;
  const now = T;
  const offerRole = (more: Partial<VectorContext> = {}): VectorContext => ({ at: iso(now), role: "offer-signing", ...more });
  const ackRole = (more: Partial<VectorContext> = {}): VectorContext => ({
    at: iso(now),
    role: "acknowledgment-signing",
    ...more,
  });
  const add = (name: string, description: string, input: unknown, context: VectorContext, expected: VectorExpectation) =>
    c.add("chain", name, description, input, context, expected);
  const publisher = w.publisherChain;
  const publishersCa = x(pki.publishersCa.certificate);

  add("valid-publisher", "publisher ← publishers' association, for offer-signing.", publisher, offerRole(), valid);
  add("valid-server", "server ← payment regulator, for acknowledgment-signing.", w.serverChain, ackRole(), valid);
  add(
    "valid-with-root",
    "The chain may end with the trusted root itself.",
    [...publisher, x(pki.root.certificate)],
    offerRole(),
    valid,
  );
  add(
    "valid-all-crls-required",
    'The "require" policy with the CRLs of both CAs of the path.',
    publisher,
    offerRole({ revocation: "require", crls: [c.crlNames.publishersEmpty, c.crlNames.rootEmpty] }),
    valid,
  );

  add("malformed-empty", "An empty chain.", [], offerRole(), fails("ERR_MALFORMED"));
  add("malformed-not-base64", "An entry that is not base64.", ["***", publishersCa], offerRole(), fails("ERR_MALFORMED"));
  add(
    "malformed-not-der",
    "An entry that is base64 but not a DER certificate.",
    ["AAAA", publishersCa],
    offerRole(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-after-root",
    "A certificate after the trusted root.",
    [...publisher, x(pki.root.certificate), x(pki.regulatorCa.certificate)],
    offerRole(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-too-long",
    "Six certificates (at most five).",
    [...publisher, ...publisher, ...publisher],
    offerRole(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-path-of-six",
    "A publisher below four intermediates none of which limits the path: five certificates, and with the root a path of six (at most five, the anchor included).",
    w.paths.sixLevels,
    offerRole(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-no-identity",
    "A publisher leaf without a subjectAltName URI.",
    [x(extra.noIdentity), publishersCa],
    offerRole(),
    fails("ERR_MALFORMED"),
  );
  add("malformed-not-an-array", "A chain that is a string, not an array.", publisher[0], offerRole(), fails("ERR_MALFORMED"));
  add(
    "malformed-short-string",
    "A chain that is a four-character string: not an array, though no longer than five.",
    "AAAA",
    offerRole(),
    fails("ERR_MALFORMED"),
  );
  add("malformed-entry-not-a-string", "A chain entry that is a number.", [publisher[0], 1], offerRole(), fails("ERR_MALFORMED"));
  add(
    "malformed-two-identities",
    "A publisher leaf naming two Péage identities (a leaf has exactly one).",
    [x(extra.twoIdentities), publishersCa],
    offerRole(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-foreign-identity",
    "A publisher leaf whose subjectAltName URI is not a Péage identity.",
    [x(extra.foreignIdentity), publishersCa],
    offerRole(),
    fails("ERR_MALFORMED"),
  );

  add(
    "unknown-issuer-rogue",
    "A rogue hierarchy copying every name of the real one.",
    w.rogue.chainOf(w.rogue.publisher.certificate),
    offerRole(),
    fails("ERR_UNKNOWN_ISSUER"),
  );
  add(
    "unknown-issuer-self-signed",
    "A self-signed leaf naming the publisher.",
    [x(extra.selfSignedPublisher.certificate)],
    offerRole(),
    fails("ERR_UNKNOWN_ISSUER"),
  );
  add(
    "unknown-issuer-self-issued",
    "A publisher leaf whose subject is its issuer's own name (self-issued, though signed by the publishers' association): a self-issued certificate that is not a trust anchor ends no path.",
    w.paths.selfIssued,
    offerRole(),
    fails("ERR_UNKNOWN_ISSUER"),
  );
  add(
    "unknown-issuer-missing-intermediate",
    "The leaf without its intermediate.",
    publisher.slice(0, 1),
    offerRole(),
    fails("ERR_UNKNOWN_ISSUER"),
  );
  add(
    "unknown-issuer-wrong-intermediate",
    "The publisher's leaf followed by the regulator instead of its issuer.",
    [publisher[0]!, x(pki.regulatorCa.certificate)],
    offerRole(),
    fails("ERR_UNKNOWN_ISSUER"),
  );
  add(
    "bad-signature",
    "A leaf naming the publishers' association as issuer (name and key id), signed by another key.",
    [x(extra.forgedLeaf), publishersCa],
    offerRole(),
    fails("ERR_BAD_SIGNATURE"),
  );
  add(
    "unsupported-key",
    "A publisher leaf holding a P-384 key.",
    [x(extra.p384Leaf), publishersCa],
    offerRole(),
    fails("ERR_UNSUPPORTED_ALGORITHM"),
  );

  const { late, early } = lateAndEarly(w);
  add(
    "certificate-expired",
    "Checked a day after the leaf's notAfter.",
    publisher,
    offerRole({ at: iso(late) }),
    fails("ERR_CERT_EXPIRED"),
  );
  add(
    "certificate-not-yet-valid",
    "Checked a day before the leaf's notBefore.",
    publisher,
    offerRole({ at: iso(early) }),
    fails("ERR_CERT_NOT_YET_VALID"),
  );
  add(
    "not-a-ca",
    "A leaf issued by the publisher's own (non-CA) certificate.",
    [x(extra.leafUnderLeaf), ...publisher],
    offerRole(),
    fails("ERR_NOT_A_CA"),
  );
  add(
    "path-length",
    "A leaf below a sub-CA of the publishers' association, whose pathLen is 0.",
    [x(extra.leafUnderSubCa), x(extra.subCa), publishersCa],
    offerRole(),
    fails("ERR_PATH_LENGTH"),
  );
  add(
    "key-usage-ca-as-leaf",
    "The publishers' association's CA certificate used to sign messages.",
    [publishersCa],
    offerRole(),
    fails("ERR_KEY_USAGE"),
  );
  add(
    "key-usage-leaf-is-a-ca",
    "A publisher leaf whose basicConstraints say cA, with keyUsage digitalSignature only: a CA never signs messages.",
    w.paths.caAsLeaf,
    offerRole(),
    fails("ERR_KEY_USAGE"),
  );
  add(
    "unsupported-key-of-issuer",
    "A publisher leaf issued by a CA holding a P-384 key: the link's issuer key is refused before its signature is checked.",
    w.paths.underP384Ca,
    offerRole(),
    fails("ERR_UNSUPPORTED_ALGORITHM"),
  );
  if (w.paths.signedWithSha384) {
    add(
      "unsupported-signature-algorithm",
      "A publisher leaf signed by its P-256 issuer with ecdsa-with-SHA384: a valid signature, in an algorithm other than ecdsa-with-SHA256.",
      w.paths.signedWithSha384,
      offerRole(),
      fails("ERR_UNSUPPORTED_ALGORITHM"),
    );
  }
  add(
    "key-usage-no-digital-signature",
    "A leaf whose keyUsage is keyAgreement only.",
    [x(extra.noDigitalSignature), publishersCa],
    offerRole(),
    fails("ERR_KEY_USAGE"),
  );
  add(
    "key-usage-leaf-with-key-cert-sign",
    "A leaf (cA=false) whose keyUsage also asserts keyCertSign (RFC 5280 §4.2.1.3).",
    [x(extra.leafWithKeyCertSign), publishersCa],
    offerRole(),
    fails("ERR_KEY_USAGE"),
  );
  add(
    "key-usage-ca-without-key-cert-sign",
    "A leaf issued by a CA whose keyUsage lacks keyCertSign.",
    [x(extra.leafUnderCaWithoutKeyCertSign), x(extra.caWithoutKeyCertSign)],
    offerRole(),
    fails("ERR_KEY_USAGE"),
  );
  add(
    "wrong-role-no-role",
    "A publisher leaf whose extendedKeyUsage lists no Péage role.",
    [x(extra.noRole), publishersCa],
    offerRole(),
    fails("ERR_WRONG_ROLE"),
  );
  add(
    "revocation-unknown-ca-without-crl-sign",
    "A CRL from a CA whose keyUsage lacks cRLSign cannot be used (RFC 5280 §6.3.3 (f)).",
    [x(extra.leafUnderCaWithoutCrlSign), x(extra.caWithoutCrlSign.certificate)],
    offerRole({ crls: [c.crlNames.withoutCrlSignEmpty] }),
    fails("ERR_REVOCATION_UNKNOWN"),
  );
  add(
    "revocation-unknown-critical-crl-extension",
    "The publishers' association's only CRL is a delta CRL (critical deltaCRLIndicator, RFC 5280 §5.2.4), which a checker of complete CRLs does not process.",
    publisher,
    offerRole({ crls: [c.crlNames.publishersDelta] }),
    fails("ERR_REVOCATION_UNKNOWN"),
  );
  add(
    "revocation-unknown-crl-without-next-update",
    "The publishers' association's only CRL has no nextUpdate (RFC 5280 §5.1.2.5): nothing says until when it holds.",
    publisher,
    offerRole({ crls: [c.crlNames.publishersWithoutNextUpdate] }),
    fails("ERR_REVOCATION_UNKNOWN"),
  );
  add(
    "valid-ca-without-crl-sign-no-crl",
    "The same leaf and CA with no CRL loaded, under the best-effort policy: valid.",
    [x(extra.leafUnderCaWithoutCrlSign), x(extra.caWithoutCrlSign.certificate)],
    offerRole(),
    valid,
  );
  add(
    "wrong-role-publisher-for-ack",
    "The publisher's chain for acknowledgment-signing.",
    publisher,
    ackRole(),
    fails("ERR_WRONG_ROLE"),
  );
  add(
    "wrong-role-server-for-offer",
    "The server's chain for offer-signing.",
    w.serverChain,
    offerRole(),
    fails("ERR_WRONG_ROLE"),
  );
  add(
    "wrong-role-holder",
    "A leaf with the offer-signing role whose identity is a server.",
    [x(extra.serverIdentityOfferRole), publishersCa],
    offerRole(),
    fails("ERR_WRONG_ROLE"),
  );
  add(
    "wrong-role-eku-chaining",
    "A server leaf for acknowledgment-signing certified by the publishers' association, which may only certify offer-signing.",
    [x(extra.ackRoleUnderPublishersCa), publishersCa],
    ackRole(),
    fails("ERR_WRONG_ROLE"),
  );
  add(
    "revoked-leaf",
    "The publisher's certificate is on its issuer's CRL.",
    publisher,
    offerRole({ crls: [c.crlNames.publishersRevokesPublisher] }),
    fails("ERR_REVOKED"),
  );
  add(
    "revoked-intermediate",
    "The publishers' association is on the root's CRL.",
    publisher,
    offerRole({ crls: [c.crlNames.rootRevokesPublishersCa] }),
    fails("ERR_REVOKED"),
  );
  add(
    "revoked-server",
    "The server's certificate is on the regulator's CRL.",
    w.serverChain,
    ackRole({ crls: [c.crlNames.regulatorRevokesServer] }),
    fails("ERR_REVOKED"),
  );
  add(
    "revocation-unknown-stale",
    "The only CRL is past its nextUpdate.",
    publisher,
    offerRole({ at: iso(at(VECTORS_NOW, 40 * DAY)), crls: [c.crlNames.publishersEmpty] }),
    fails("ERR_REVOCATION_UNKNOWN"),
  );
  add(
    "revocation-unknown-required",
    "The \"require\" policy, the root's CRL loaded but not the publishers' association's.",
    publisher,
    offerRole({ revocation: "require", crls: [c.crlNames.rootEmpty] }),
    fails("ERR_REVOCATION_UNKNOWN"),
  );
}

async function main(): Promise<void> {
  const outDir = fileURLToPath(new URL("../../test-vectors/", import.meta.url));
  const crls: Record<string, string> = {};
  const worlds = await Promise.all((["ES256", "EdDSA"] as const).map((alg) => makeWorld(alg, VECTORS_NOW)));
  const cases: VectorCase[] = [];
  for (const [index, world] of worlds.entries()) {
    const names = await makeCrls(world, crls);
    const c = new Cases(world, names);
    await offerCases(c);
    await catalogCases(c);
    await paymentRequestCases(c, worlds[1 - index]!.user);
    await acknowledgmentCases(c);
    await chainCases(c);
    await mandateCases(c, T);
    await certificateCases(c, T);
    crlTextCases(c, T, crls, names.publishersEmpty);
    await jwsCases(c, T);
    cases.push(...c.list);
  }
  const enrolledKeys: EnrolledKey[] = await Promise.all(
    worlds.map(async (w) => ({ user: w.user.id, kid: w.user.kid, jwk: await publicJwk(w.user.key) })),
  );
  const file: VectorFile = {
    format: VECTOR_FORMAT,
    description:
      'Péage protocol test vectors: run each case with the verifier of its kind, the file\'s trust anchors, the CRLs the case names and the clock at context.at (docs/protocol.md, "Test vectors").',
    generatedAt: iso(VECTORS_NOW),
    trustAnchors: worlds.map((w) => certificateToPem(w.pki.root.certificate)),
    crls,
    enrolledKeys,
    cases,
  };
  await selfCheck(file);

  await rm(join(outDir, "crls"), { recursive: true, force: true });
  await mkdir(join(outDir, "crls"), { recursive: true });
  await writeFile(join(outDir, "vectors.json"), `${JSON.stringify(file, null, 2)}\n`);
  await writeFile(join(outDir, "trust-anchors.pem"), file.trustAnchors.join(""));
  const iso4217 = Object.fromEntries([...currencyExponents].sort(([a], [b]) => (a < b ? -1 : 1)));
  await writeFile(
    join(outDir, "iso4217.json"),
    `${JSON.stringify({ description: "ISO 4217 list one: active codes with their minor-unit exponents (docs/protocol.md §2)", exponents: iso4217 }, null, 2)}\n`,
  );
  for (const [name, pem] of Object.entries(crls)) await writeFile(join(outDir, "crls", `${name}.pem`), pem);
  await writeFile(
    join(outDir, "enrolled-keys.json"),
    `${JSON.stringify({ keys: enrolledKeys.map((k) => ({ ...k.jwk, kid: k.kid, "peage:user": k.user })) }, null, 2)}\n`,
  );
  const byKind = VectorKinds.map((kind) => `${kind} ${cases.filter((item) => item.kind === kind).length}`).join(", ");
  console.log(`wrote ${cases.length} cases (${byKind}) to ${outDir}`);
}

/** Runs every case; any outcome other than the expected one, or an error code never exercised, aborts. */
async function selfCheck(file: VectorFile): Promise<void> {
  const run = await runner(file);
  const wrong: string[] = [];
  const ids = new Set<string>();
  for (const item of file.cases) {
    if (ids.has(item.id)) wrong.push(`${item.id}: duplicate id`);
    ids.add(item.id);
    const outcome = outcomeOf(await run.run(item));
    if (JSON.stringify(outcome) !== JSON.stringify(item.expected))
      wrong.push(`${item.id}: expected ${JSON.stringify(item.expected)}, got ${JSON.stringify(outcome)}`);
  }
  const seen = new Set(file.cases.flatMap((item) => (item.expected.valid ? [] : [item.expected.code])));
  const missing = VerificationCodes.filter((code) => !seen.has(code));
  if (missing.length > 0) wrong.push(`no case fails with ${missing.join(", ")}`);
  if (![...seen].every(isVerificationCode)) wrong.push("an unknown code");
  const text = JSON.stringify(file);
  if (text.includes("PRIVATE KEY") || /"d":/.test(text)) wrong.push("the vectors contain private key material");
  if (wrong.length > 0) {
    console.error(wrong.join("\n"));
    process.exit(1);
  }
}

await main();
