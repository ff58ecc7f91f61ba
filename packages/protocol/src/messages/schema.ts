/**
 * Wire schemas of every Péage object, as JSON Schema (TypeBox), shared with the HTTP layer and
 * the OpenAPI document. Objects are closed (no additional properties) and every string and
 * array is bounded, so a message is either exactly what the spec says or it is refused.
 * docs/protocol.md describes each field; this file is the normative form.
 */
import { Type, type Static, type TSchema } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { fail, ok, type Result } from "../errors.js";
import { isCurrencyCode, type Price } from "../money.js";
import { partyIdPattern, type PartyId } from "../identity.js";
import { noncePattern } from "../nonce.js";
import { timestampPattern, isTimestamp, type Timestamp } from "../time.js";

export const PROTOCOL_VERSION = 1;

const Version = Type.Literal(PROTOCOL_VERSION);
const Hash = Type.String({ pattern: "^[A-Za-z0-9_-]{43}$", description: "SHA-256, base64url without padding" });
const Jws = Type.String({ minLength: 16, maxLength: 24 * 1024, pattern: "^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$" });
const Nonce = Type.String({ pattern: noncePattern, description: "at least 128 random bits, base64url" });
const Time = Type.Unsafe<Timestamp>(Type.String({ pattern: timestampPattern, description: "RFC 3339 UTC with milliseconds" }));
const Party = (kind: string) =>
  Type.Unsafe<PartyId>(Type.String({ pattern: partyIdPattern.replace("(publisher|server|user|card)", kind), maxLength: 80 }));
const Slug = Type.String({ pattern: "^[a-z0-9][a-z0-9._-]{0,62}$" });

export const PriceSchema = Type.Unsafe<Price>(
  Type.Object(
    {
      amount: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: "ISO 4217 minor units" }),
      currency: Type.String({ pattern: "^[A-Z]{3}$", description: "ISO 4217 alphabetic code" }),
    },
    { additionalProperties: false },
  ),
);

/** What a payment grants: one launch, a period of use, or passing a named event in the program. */
export const GrantSchema = Type.Union([
  Type.Object({ kind: Type.Literal("launch") }, { additionalProperties: false }),
  Type.Object(
    { kind: Type.Literal("period"), seconds: Type.Integer({ minimum: 1, maximum: 366 * 86400 }) },
    { additionalProperties: false },
  ),
  Type.Object({ kind: Type.Literal("event"), event: Slug }, { additionalProperties: false }),
]);
export type Grant = Static<typeof GrantSchema>;

/**
 * Text the user reads and agrees to: printable characters only. Control characters and the
 * bidirectional overrides (U+202A-U+202E, U+2066-U+2069) are refused, since they let a description
 * display differently from what was signed.
 */
const Description = Type.String({
  minLength: 1,
  maxLength: 500,
  pattern: "^[^\\u0000-\\u001f\\u007f-\\u009f\\u202a-\\u202e\\u2066-\\u2069]+$",
});

/** The offer's terms: everything the offer hash (`offerHash`) is computed over. */
export const OfferTermsSchema = Type.Object(
  {
    v: Version,
    publisher: Party("publisher"),
    offerId: Slug,
    description: Description,
    price: PriceSchema,
    grant: GrantSchema,
    /**
     * The payment servers whose acknowledgments the publisher accepts for this offer (a card's
     * counts as its issuing server's). Signed with the terms, so nobody can widen it; absent in
     * catalogs signed before it existed, whose merchants must then name the server themselves.
     */
    servers: Type.Optional(Type.Array(Party("server"), { minItems: 1, maxItems: 8, uniqueItems: true })),
    /** The price is a maximum: the payment is settled afterwards for the amount used, 0 … price (metering.ts). */
    upto: Type.Optional(Type.Literal(true)),
    /** A metered session: the price of one tick, each paid by the next word of a hash chain (metering.ts). */
    tick: Type.Optional(PriceSchema),
  },
  { additionalProperties: false },
);
export type OfferTerms = Static<typeof OfferTermsSchema>;

/** Claims of the publisher's signature S_E(offer_h, price): the offer hash and the price, nothing else. */
export const OfferSignatureClaimsSchema = Type.Object(
  { v: Version, offerHash: Hash, price: PriceSchema },
  { additionalProperties: false },
);
export type OfferSignatureClaims = Static<typeof OfferSignatureClaimsSchema>;

/** One entry of a signed catalog: terms, their hash, and the publisher's signature (with its chain in x5c). */
export const CatalogEntrySchema = Type.Object(
  { terms: OfferTermsSchema, offerHash: Hash, signature: Jws },
  { additionalProperties: false },
);
export type CatalogEntry = Static<typeof CatalogEntrySchema>;

export const CatalogSchema = Type.Object(
  {
    type: Type.Literal("peage.catalog"),
    v: Version,
    publisher: Party("publisher"),
    offers: Type.Array(CatalogEntrySchema, { minItems: 1, maxItems: 1000 }),
  },
  { additionalProperties: false },
);
export type Catalog = Static<typeof CatalogSchema>;

/** Message 1: the offer the merchant sends the wallet. Only `terms` and the signature are the publisher's. */
export const OfferSchema = Type.Object(
  {
    type: Type.Literal("peage.offer"),
    v: Version,
    terms: OfferTermsSchema,
    offerHash: Hash,
    signature: Jws,
    nonce: Nonce,
    date: Time,
    expiresAt: Time,
  },
  { additionalProperties: false },
);
export type Offer = Static<typeof OfferSchema>;

/**
 * Claims of the consent proof: the user's signature binds this exact offer (hash, price, nonce,
 * date, publisher) to this user and this payment server, so it is worth nothing for any other
 * payment (PSD2 RTS art. 5, dynamic linking).
 */
export const ConsentClaimsSchema = Type.Object(
  {
    v: Version,
    offerHash: Hash,
    price: PriceSchema,
    date: Time,
    nonce: Nonce,
    publisher: Party("publisher"),
    user: Party("user"),
    server: Party("server"),
    consentedAt: Time,
    expiresAt: Time,
  },
  { additionalProperties: false },
);
export type ConsentClaims = Static<typeof ConsentClaimsSchema>;

/** Message 2: the payment request the wallet sends the payment server. */
export const PaymentRequestSchema = Type.Object(
  {
    type: Type.Literal("peage.payment-request"),
    v: Version,
    /** The publisher's signature S_E(offer_h, price), copied from the offer. */
    signature: Jws,
    /** The user's consent proof: a JWS over {@link ConsentClaims}. */
    consent: Jws,
  },
  { additionalProperties: false },
);
export type PaymentRequest = Static<typeof PaymentRequestSchema>;

/**
 * The proof of debit a smart card puts in its acknowledgment (patent claims 6-7): the card's
 * transaction counter for this payment and what the purse holds once it is paid, the balance of
 * a prepaid card or the amount used since the last synchronisation of a postpaid one (claim 10).
 * Integers in the minor units of the price's currency. docs/card.md describes the card.
 */
export const CardDebitSchema = Type.Union([
  Type.Object(
    {
      counter: Type.Integer({
        minimum: 1,
        maximum: Number.MAX_SAFE_INTEGER,
        description: "the card's transaction counter of this payment",
      }),
      balance: Type.Integer({
        minimum: 0,
        maximum: Number.MAX_SAFE_INTEGER,
        description: "prepaid: what is left on the card, minor units",
      }),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      counter: Type.Integer({
        minimum: 1,
        maximum: Number.MAX_SAFE_INTEGER,
        description: "the card's transaction counter of this payment",
      }),
      used: Type.Integer({
        minimum: 0,
        maximum: Number.MAX_SAFE_INTEGER,
        description: "postpaid: used since the last synchronisation, minor units",
      }),
    },
    { additionalProperties: false },
  ),
]);
export type CardDebit = Static<typeof CardDebitSchema>;

/** Claims of the acknowledgment S_SP(offer_h, price, nonce, date), with the payment's record. */
export const AcknowledgmentClaimsSchema = Type.Object(
  {
    v: Version,
    paymentId: Type.String({ pattern: "^[A-Za-z0-9_-]{1,64}$" }),
    server: Party("(server|card)"),
    user: Party("user"),
    publisher: Party("publisher"),
    offerHash: Hash,
    price: PriceSchema,
    nonce: Nonce,
    date: Time,
    serverTime: Time,
    /** What the user was charged, in the user's home currency, and the rate applied (decimal string). */
    charged: PriceSchema,
    rate: Type.Optional(Type.String({ pattern: "^\\d{1,12}(\\.\\d{1,12})?$" })),
    /** Set by a smart card (offline variant): the debit this acknowledgment proves. */
    debit: Type.Optional(CardDebitSchema),
  },
  { additionalProperties: false },
);
export type AcknowledgmentClaims = Static<typeof AcknowledgmentClaimsSchema>;

/** Message 3: the acknowledgment the payment server returns, handed by the wallet to the merchant. */
export const AcknowledgmentSchema = Type.Object(
  { type: Type.Literal("peage.acknowledgment"), v: Version, acknowledgment: Jws },
  { additionalProperties: false },
);
export type Acknowledgment = Static<typeof AcknowledgmentSchema>;

/** A compiled parser: schema check, then the checks JSON Schema cannot say (currencies, real dates). */
export interface Parser<T> {
  parse(value: unknown, what: string): Result<T>;
}

export function parser<S extends TSchema>(schema: S): Parser<Static<S>> {
  const check = TypeCompiler.Compile(schema);
  return {
    parse(value, what) {
      if (!check.Check(value)) {
        const first = check.Errors(value).First();
        const where = first?.path || "/";
        return fail("ERR_MALFORMED", `${what}: ${where} ${first?.message ?? "is invalid"}`, { path: where });
      }
      const semantic = findSemanticError(value, "");
      if (semantic) return fail("ERR_MALFORMED", `${what}: ${semantic.path} ${semantic.message}`, { path: semantic.path });
      return ok(value);
    },
  };
}

/**
 * The members that hold timestamps and currencies in the schemas above. The schemas are closed,
 * so these names mean the same thing wherever they appear; free text (a description) is never
 * checked as a date however much it looks like one.
 */
const timestampMembers = new Set(["date", "expiresAt", "consentedAt", "serverTime", "iat"]);

/** Walks a schema-valid value for currencies outside ISO 4217 and impossible dates ("2026-02-30"). */
function findSemanticError(value: unknown, path: string): { path: string; message: string } | undefined {
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const error = findSemanticError(item, `${path}/${i}`);
      if (error) return error;
    }
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  for (const [key, item] of Object.entries(value)) {
    const here = `${path}/${key}`;
    if (key === "currency" && !isCurrencyCode(item)) return { path: here, message: "is not an active ISO 4217 currency" };
    if (timestampMembers.has(key) && !isTimestamp(item)) return { path: here, message: "is not a real date and time" };
    const error = findSemanticError(item, here);
    if (error) return error;
  }
  return undefined;
}
