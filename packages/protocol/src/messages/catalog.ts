/**
 * A signed catalog: the offers a program may make, each signed once by its publisher at build
 * time. The program ships the catalog (with the publisher's chain inside each signature) and
 * never the publisher's private key.
 */
import { canonicalHash } from "../canonical.js";
import { fail, ok, type Result } from "../errors.js";
import type { PartyId } from "../identity.js";
import type { KeyPair } from "../keys.js";
import type { TrustStore } from "../pki/validate.js";
import { samePrice } from "../money.js";
import { signOfferSignature, verifyOfferSignature, type VerifiedOfferSignature } from "./offer-signature.js";
import { CatalogSchema, parser, PROTOCOL_VERSION, type Catalog, type CatalogEntry, type OfferTerms } from "./schema.js";
import { meteringProblem } from "./metering.js";

const catalogParser = parser(CatalogSchema);

/** The offer hash offer_h: SHA-256 over the RFC 8785 form of the terms, base64url. */
export function offerHash(terms: OfferTerms): string {
  return canonicalHash(terms);
}

/** What a publisher writes for each offer; the rest (version, publisher, hash, servers) is filled in. */
export type OfferDraft = Omit<OfferTerms, "v" | "publisher" | "servers">;

export interface CatalogOptions {
  /** The payment servers whose acknowledgments the program accepts, signed into every offer's terms. */
  readonly servers?: readonly PartyId<"server">[];
}

export async function signCatalog(
  publisher: PartyId<"publisher">,
  drafts: readonly OfferDraft[],
  key: KeyPair,
  x5c: readonly string[],
  options: CatalogOptions = {},
): Promise<Catalog> {
  const offers: CatalogEntry[] = [];
  const servers = options.servers && options.servers.length > 0 ? { servers: [...options.servers] } : {};
  for (const draft of drafts)
    offers.push(await signCatalogEntry({ v: PROTOCOL_VERSION, publisher, ...draft, ...servers }, key, x5c));
  const catalog: Catalog = { type: "peage.catalog", v: PROTOCOL_VERSION, publisher, offers };
  const parsed = catalogParser.parse(catalog, "catalog");
  if (!parsed.ok) throw parsed.error;
  return catalog;
}

export async function signCatalogEntry(terms: OfferTerms, key: KeyPair, x5c: readonly string[]): Promise<CatalogEntry> {
  const metering = meteringProblem(terms);
  if (metering) throw new RangeError(`the offer ${terms.offerId}: ${metering}`);
  const hash = offerHash(terms);
  return { terms, offerHash: hash, signature: await signOfferSignature(hash, terms.price, key, x5c) };
}

/**
 * Verifies one catalog entry (or the terms part of an offer): the hash is the hash of the terms,
 * the signature is the publisher's over that hash and the terms' price, and the certificate
 * names the publisher the terms name.
 */
export async function verifySignedTerms(
  entry: Pick<CatalogEntry, "terms" | "offerHash" | "signature">,
  trust: TrustStore,
  at: Date,
): Promise<Result<VerifiedOfferSignature>> {
  const metering = meteringProblem(entry.terms);
  if (metering) return fail("ERR_MALFORMED", `the offer ${entry.terms.offerId}: ${metering}`, { offerId: entry.terms.offerId });
  if (offerHash(entry.terms) !== entry.offerHash) {
    return fail("ERR_HASH_MISMATCH", "the offer hash is not the hash of the offer's terms", { offerId: entry.terms.offerId });
  }
  const signature = await verifyOfferSignature(entry.signature, trust, at);
  if (!signature.ok) return signature;
  const { claims, publisher } = signature.value;
  if (claims.offerHash !== entry.offerHash) {
    return fail("ERR_HASH_MISMATCH", "the publisher signed a different offer hash", { offerId: entry.terms.offerId });
  }
  if (!samePrice(claims.price, entry.terms.price)) {
    return fail("ERR_PRICE_MISMATCH", "the publisher signed a different price", {
      signed: claims.price,
      stated: entry.terms.price,
    });
  }
  if (publisher !== entry.terms.publisher) {
    return fail("ERR_IDENTITY_MISMATCH", `the offer names ${entry.terms.publisher} but was signed by ${publisher}`);
  }
  return signature;
}

export interface VerifiedCatalog {
  readonly catalog: Catalog;
  readonly byOfferId: ReadonlyMap<string, CatalogEntry>;
}

/** Parses and verifies a whole catalog; the first bad entry fails it, naming the entry. */
export async function verifyCatalog(value: unknown, trust: TrustStore, at: Date): Promise<Result<VerifiedCatalog>> {
  const parsed = catalogParser.parse(value, "catalog");
  if (!parsed.ok) return parsed;
  const catalog = parsed.value;
  const byOfferId = new Map<string, CatalogEntry>();
  for (const [index, entry] of catalog.offers.entries()) {
    if (byOfferId.has(entry.terms.offerId)) {
      return fail("ERR_MALFORMED", `catalog: offer id ${entry.terms.offerId} appears twice`, { index });
    }
    if (entry.terms.publisher !== catalog.publisher) {
      return fail("ERR_IDENTITY_MISMATCH", `catalog of ${catalog.publisher} holds an offer of ${entry.terms.publisher}`, {
        index,
      });
    }
    const verified = await verifySignedTerms(entry, trust, at);
    if (!verified.ok) {
      const { error } = verified;
      return fail(error.code, `catalog offer ${entry.terms.offerId}: ${error.message}`, { ...error.detail, index });
    }
    byOfferId.set(entry.terms.offerId, entry);
  }
  return ok({ catalog, byOfferId });
}
