/**
 * The publisher's signature S_E(offer_h, price) of the patent's message 1: a JWS of type
 * `peage-offer+jws` over {v, offerHash, price}, signed by a key whose certificate has the
 * offer-signing role; the chain travels in the x5c header. It covers neither nonce nor date,
 * so a catalog is signed once at build time and the publisher's key never ships.
 */
import { ok, type Result } from "../errors.js";
import type { PartyId } from "../identity.js";
import { decodeJws, JwsTypes, signJws, verifyJwsSignature } from "../jws.js";
import type { KeyPair } from "../keys.js";
import type { Price } from "../money.js";
import type { TrustStore, ValidatedChain } from "../pki/validate.js";
import { OfferSignatureClaimsSchema, parser, PROTOCOL_VERSION, type OfferSignatureClaims } from "./schema.js";

const claimsParser = parser(OfferSignatureClaimsSchema);

export interface VerifiedOfferSignature {
  readonly claims: OfferSignatureClaims;
  /** The publisher, as its certificate names it. */
  readonly publisher: PartyId;
  readonly chain: ValidatedChain;
}

export function signOfferSignature(offerHash: string, price: Price, key: KeyPair, x5c: readonly string[]): Promise<string> {
  const claims: OfferSignatureClaims = { v: PROTOCOL_VERSION, offerHash, price };
  return signJws(JwsTypes.offerSignature, claims, key, { x5c });
}

/**
 * Offer signatures already verified, with the key that verified them. A publisher's signature is
 * made once per catalog entry, so the server sees the same token for every payment of that offer:
 * it is checked once, and afterwards only its chain is (re)validated, which the TrustStore caches.
 * A token is only skipped when the chain validated now yields the very same key object.
 */
const verifiedSignatures = new Map<string, CryptoKey>();
const MAX_VERIFIED_SIGNATURES = 10_000;

function remember(token: string, key: CryptoKey): void {
  if (verifiedSignatures.size >= MAX_VERIFIED_SIGNATURES) {
    const oldest = verifiedSignatures.keys().next();
    if (!oldest.done) verifiedSignatures.delete(oldest.value);
  }
  verifiedSignatures.set(token, key);
}

/** Verifies S_E: well-formed token, publisher chain with the offer-signing role at `at`, signature. */
export async function verifyOfferSignature(token: unknown, trust: TrustStore, at: Date): Promise<Result<VerifiedOfferSignature>> {
  const decoded = decodeJws(token, JwsTypes.offerSignature);
  if (!decoded.ok) return decoded;
  const { header, payload } = decoded.value;
  const chain = await trust.validate(header.x5c, "offer-signing", at);
  if (!chain.ok) return chain;
  if (verifiedSignatures.get(token as string) !== chain.value.publicKey) {
    const signature = await verifyJwsSignature(token as string, chain.value.alg, chain.value.publicKey);
    if (!signature.ok) return signature;
    remember(token as string, chain.value.publicKey);
  }
  const claims = claimsParser.parse(payload, "publisher signature");
  if (!claims.ok) return claims;
  return ok({ claims: claims.value, publisher: chain.value.identity, chain: chain.value });
}
