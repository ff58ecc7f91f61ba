/**
 * Message 2, the payment request: the publisher's signature copied from the offer, and the user's
 * consent proof, a JWS of type `peage-consent+jws` made with the wallet's key (named by its
 * RFC 7638 thumbprint in `kid`) over {@link ConsentClaims}. The server never sees the offer's
 * description: the consent carries its hash.
 */
import { fail, ok, type Result } from "../errors.js";
import type { PartyId } from "../identity.js";
import { decodeJws, JwsTypes, signJws, verifyJwsSignature } from "../jws.js";
import { jwkThumbprint, type KeyPair, type SignatureAlgorithm } from "../keys.js";
import { samePrice } from "../money.js";
import type { TrustStore } from "../pki/validate.js";
import { timestamp, toDate, type Clock } from "../time.js";
import { checkWindow, DEFAULT_CLOCK_SKEW_MS, MAX_OFFER_TTL_MS } from "./offer.js";
import { verifyOfferSignature, type VerifiedOfferSignature } from "./offer-signature.js";
import {
  ConsentClaimsSchema,
  parser,
  PaymentRequestSchema,
  PROTOCOL_VERSION,
  type ConsentClaims,
  type Offer,
  type PaymentRequest,
} from "./schema.js";

const requestParser = parser(PaymentRequestSchema);
const consentParser = parser(ConsentClaimsSchema);

export const DEFAULT_CONSENT_TTL_MS = 5 * 60_000;
export const MAX_CONSENT_TTL_MS = 15 * 60_000;
/**
 * How old the offer's date (the user's machine clock) may be at the server: any offer still open
 * (at most {@link MAX_OFFER_TTL_MS}) plus the clock skew. An offer dated in the future is refused
 * beyond the skew alone.
 */
export const DEFAULT_OFFER_DATE_TOLERANCE_MS = MAX_OFFER_TTL_MS + DEFAULT_CLOCK_SKEW_MS;

/** The RFC 7638 SHA-256 thumbprint of a public key: how a consent names the user's key. */
export async function keyThumbprint(publicKey: CryptoKey): Promise<string> {
  return jwkThumbprint(publicKey);
}

export interface PaymentRequestInput {
  readonly offer: Offer;
  readonly user: PartyId<"user">;
  readonly server: PartyId<"server">;
  readonly userKey: KeyPair;
  readonly clock: Clock;
  readonly ttlMs?: number;
}

/**
 * The consent claims binding this offer to this user and server, valid for `ttlMs` from now. The
 * online wallet signs them (message 2); a card checks them under the PIN (offline variant).
 */
export function consentClaims(input: Omit<PaymentRequestInput, "userKey">): ConsentClaims {
  const ttl = input.ttlMs ?? DEFAULT_CONSENT_TTL_MS;
  if (!(ttl > 0 && ttl <= MAX_CONSENT_TTL_MS)) throw new RangeError(`consent lifetime must be in (0, ${MAX_CONSENT_TTL_MS}] ms`);
  const now = input.clock.now();
  return {
    v: PROTOCOL_VERSION,
    offerHash: input.offer.offerHash,
    price: input.offer.terms.price,
    date: input.offer.date,
    nonce: input.offer.nonce,
    publisher: input.offer.terms.publisher,
    user: input.user,
    server: input.server,
    consentedAt: timestamp(now),
    expiresAt: timestamp(new Date(now.getTime() + ttl)),
  };
}

/** What the wallet builds once the user said yes. */
export async function createPaymentRequest(input: PaymentRequestInput): Promise<PaymentRequest> {
  const claims = consentClaims(input);
  const consent = await signJws(JwsTypes.consent, claims, input.userKey, { kid: await keyThumbprint(input.userKey.publicKey) });
  return { type: "peage.payment-request", v: PROTOCOL_VERSION, signature: input.offer.signature, consent };
}

/** A user's enrolled public key, as the payment server stores it. */
export interface UserKey {
  readonly alg: SignatureAlgorithm;
  readonly publicKey: CryptoKey;
}

export interface PaymentRequestCheckOptions {
  readonly trust: TrustStore;
  readonly clock: Clock;
  /** The server doing the check: a consent meant for another server is refused. */
  readonly server: PartyId<"server">;
  /** The key enrolled for this user under this thumbprint, if any. */
  readonly userKey: (user: PartyId<"user">, kid: string) => UserKey | undefined | Promise<UserKey | undefined>;
  readonly skewMs?: number;
  readonly offerDateToleranceMs?: number;
}

export interface VerifiedPaymentRequest {
  readonly request: PaymentRequest;
  readonly consent: ConsentClaims;
  /** The thumbprint of the user key that signed the consent. */
  readonly kid: string;
  readonly publisher: VerifiedOfferSignature;
}

/**
 * The payment server's check of message 2, in order: shape; consent signed by a key enrolled for
 * the user it names; meant for this server; fresh; the publisher's signature valid and from the
 * publisher the consent names; and the consent's hash and price equal to what the publisher signed.
 */
export async function verifyPaymentRequest(
  value: unknown,
  options: PaymentRequestCheckOptions,
): Promise<Result<VerifiedPaymentRequest>> {
  const parsed = requestParser.parse(value, "payment request");
  if (!parsed.ok) return parsed;
  const request = parsed.value;
  const decoded = decodeJws(request.consent, JwsTypes.consent);
  if (!decoded.ok) return decoded;
  const { header, payload } = decoded.value;
  const unverified = consentParser.parse(payload, "consent");
  if (!unverified.ok) return unverified;

  const key = await options.userKey(unverified.value.user as PartyId<"user">, header.kid);
  if (!key)
    return fail("ERR_UNKNOWN_KEY", `no key ${header.kid} is enrolled for ${unverified.value.user}`, {
      user: unverified.value.user,
    });
  const signature = await verifyJwsSignature(request.consent, key.alg, key.publicKey);
  if (!signature.ok) return signature;
  const consent = unverified.value;
  const publisher = await checkConsentForOffer(consent, request.signature, options);
  if (!publisher.ok) return publisher;
  return ok({ request, consent, kid: header.kid, publisher: publisher.value });
}

/** The consent claims §7.5 steps 6 to 12 read: those of message 2, and the agent's under a mandate (mandate.ts). */
export type OfferConsent = Pick<
  ConsentClaims,
  "offerHash" | "price" | "date" | "publisher" | "server" | "consentedAt" | "expiresAt"
>;

/**
 * §7.5 steps 6 to 12, once the consent's signature verified: meant for this server, fresh, and
 * bound to the offer the publisher signed (its signer, hash and price).
 */
export async function checkConsentForOffer(
  consent: OfferConsent,
  signatureToken: string,
  options: Omit<PaymentRequestCheckOptions, "userKey">,
): Promise<Result<VerifiedOfferSignature>> {
  if (consent.server !== options.server) {
    return fail("ERR_WRONG_AUDIENCE", `the consent is for ${consent.server}, not ${options.server}`, { server: consent.server });
  }
  const now = options.clock.now();
  const skew = options.skewMs ?? DEFAULT_CLOCK_SKEW_MS;
  const window = checkWindow(consent.consentedAt, consent.expiresAt, MAX_CONSENT_TTL_MS, now, skew, "consent");
  if (!window.ok) return window;
  const offerAge = now.getTime() - toDate(consent.date).getTime();
  const tolerance = options.offerDateToleranceMs ?? DEFAULT_OFFER_DATE_TOLERANCE_MS;
  if (offerAge > tolerance)
    return fail("ERR_MESSAGE_EXPIRED", `the offer dated ${consent.date} is too old`, { date: consent.date });
  if (-offerAge > skew)
    return fail("ERR_MESSAGE_NOT_YET_VALID", `the offer dated ${consent.date} is in the future`, { date: consent.date });

  const publisher = await verifyOfferSignature(signatureToken, options.trust, now);
  if (!publisher.ok) return publisher;
  if (publisher.value.publisher !== consent.publisher) {
    return fail(
      "ERR_IDENTITY_MISMATCH",
      `the consent names ${consent.publisher} but the offer was signed by ${publisher.value.publisher}`,
    );
  }
  if (publisher.value.claims.offerHash !== consent.offerHash) {
    return fail("ERR_HASH_MISMATCH", "the consent's offer hash is not the one the publisher signed");
  }
  if (!samePrice(publisher.value.claims.price, consent.price)) {
    return fail("ERR_PRICE_MISMATCH", "the consent's price is not the price the publisher signed", {
      signed: publisher.value.claims.price,
      consented: consent.price,
    });
  }
  return publisher;
}
