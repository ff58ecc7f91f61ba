/**
 * Spending mandates (protocol version 2, docs/protocol.md §16): the user signs, once, the limits
 * within which a program acting for them (an agent, known by its public key) may pay without
 * asking: the publishers it may pay, a maximum per payment, a budget and a number of payments per
 * period, and an expiry. The agent then pays each offer with its own consent, signed by its own
 * key and naming the mandate; the payment server checks that consent here and the mandate's
 * limits against its records, in the payment's transaction.
 */
import { webcrypto } from "node:crypto";
import { Type, type Static } from "@sinclair/typebox";
import { fail, ok, type Result } from "../errors.js";
import { partyIdPattern, type PartyId } from "../identity.js";
import { decodeJws, JwsTypes, signJws, verifyJwsSignature } from "../jws.js";
import { jwkThumbprint, keyObjectOf, type KeyPair, type SignatureAlgorithm } from "../keys.js";
import { newNonce, noncePattern } from "../nonce.js";
import { timestamp, timestampPattern, toDate, type Clock, type Timestamp } from "../time.js";
import { checkWindow, DEFAULT_CLOCK_SKEW_MS } from "./offer.js";
import type { VerifiedOfferSignature } from "./offer-signature.js";
import {
  checkConsentForOffer,
  DEFAULT_CONSENT_TTL_MS,
  MAX_CONSENT_TTL_MS,
  type PaymentRequestCheckOptions,
  type UserKey,
} from "./payment-request.js";
import { parser, PriceSchema, type Offer } from "./schema.js";

/** The version of the objects below: a change that adds signed objects is version 2 (§14). */
export const MANDATE_VERSION = 2;
/** Longest mandate accepted: a year and a day. */
export const MAX_MANDATE_TTL_MS = 366 * 86_400_000;
/** The periods a mandate's budget and count are reset on, in UTC calendar terms; "total" never resets. */
export const MandatePeriods = ["day", "month", "total"] as const;
export type MandatePeriod = (typeof MandatePeriods)[number];

const V2 = Type.Literal(MANDATE_VERSION);
const Hash = Type.String({ pattern: "^[A-Za-z0-9_-]{43}$" });
const Jws = Type.String({ minLength: 16, maxLength: 24 * 1024, pattern: "^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$" });
const Id = Type.String({ pattern: noncePattern });
const Time = Type.Unsafe<Timestamp>(Type.String({ pattern: timestampPattern }));
const Party = (kind: string) =>
  Type.Unsafe<PartyId>(Type.String({ pattern: partyIdPattern.replace("(publisher|server|user|card)", kind), maxLength: 80 }));
const Coordinate = Type.String({ pattern: "^[A-Za-z0-9_-]{43}$" });

/** The agent's public key, RFC 7517 JWK with its required public members only (EC P-256 or OKP Ed25519). */
export const AgentJwkSchema = Type.Union([
  Type.Object(
    { kty: Type.Literal("EC"), crv: Type.Literal("P-256"), x: Coordinate, y: Coordinate },
    { additionalProperties: false },
  ),
  Type.Object({ kty: Type.Literal("OKP"), crv: Type.Literal("Ed25519"), x: Coordinate }, { additionalProperties: false }),
]);
export type AgentJwk = Static<typeof AgentJwkSchema>;

/** What the user signs: JWS `typ` peage-mandate+jws, `kid` the user's enrolled key. */
export const MandateClaimsSchema = Type.Object(
  {
    v: V2,
    mandateId: Id,
    user: Party("user"),
    server: Party("server"),
    agent: AgentJwkSchema,
    payees: Type.Array(Party("publisher"), { minItems: 1, maxItems: 16, uniqueItems: true }),
    maxPerPayment: PriceSchema,
    budget: PriceSchema,
    maxPayments: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
    period: Type.Union(MandatePeriods.map((p) => Type.Literal(p))),
    consentedAt: Time,
    expiresAt: Time,
  },
  { additionalProperties: false },
);
export type MandateClaims = Static<typeof MandateClaimsSchema>;

export const MandateSchema = Type.Object(
  { type: Type.Literal("peage.mandate"), v: V2, mandate: Jws },
  { additionalProperties: false },
);
export type Mandate = Static<typeof MandateSchema>;

/** The agent's consent to one payment: the claims of message 2's consent, and the mandate it pays under. */
export const AgentConsentClaimsSchema = Type.Object(
  {
    v: V2,
    mandate: Id,
    offerHash: Hash,
    price: PriceSchema,
    date: Time,
    nonce: Type.String({ pattern: noncePattern }),
    publisher: Party("publisher"),
    user: Party("user"),
    server: Party("server"),
    consentedAt: Time,
    expiresAt: Time,
  },
  { additionalProperties: false },
);
export type AgentConsentClaims = Static<typeof AgentConsentClaimsSchema>;

/** The agent's payment request: message 2 with the agent's consent in place of the user's. */
export const MandatePaymentSchema = Type.Object(
  { type: Type.Literal("peage.mandate-payment"), v: V2, signature: Jws, consent: Jws },
  { additionalProperties: false },
);
export type MandatePayment = Static<typeof MandatePaymentSchema>;

const mandateParser = parser(MandateSchema);
const mandateClaimsParser = parser(MandateClaimsSchema);
const paymentParser = parser(MandatePaymentSchema);
const agentConsentParser = parser(AgentConsentClaimsSchema);

/** The public JWK of a key, as a mandate names its agent. */
export function agentJwkOf(publicKey: CryptoKey): AgentJwk {
  const jwk = keyObjectOf(publicKey).export({ format: "jwk" });
  if (jwk.kty === "EC" && jwk.crv === "P-256") return { kty: "EC", crv: "P-256", x: jwk.x!, y: jwk.y! };
  if (jwk.kty === "OKP" && jwk.crv === "Ed25519") return { kty: "OKP", crv: "Ed25519", x: jwk.x! };
  throw new TypeError("an agent's key is ECDSA P-256 or Ed25519");
}

/** Imports a mandate's agent key for verification; undefined when the JWK is not a valid key. */
export async function importAgentKey(jwk: AgentJwk): Promise<UserKey | undefined> {
  const alg: SignatureAlgorithm = jwk.kty === "OKP" ? "EdDSA" : "ES256";
  const params = alg === "ES256" ? { name: "ECDSA", namedCurve: "P-256" } : { name: "Ed25519" };
  try {
    return { alg, publicKey: await webcrypto.subtle.importKey("jwk", jwk, params, true, ["verify"]) };
  } catch {
    return undefined;
  }
}

export interface MandateInput {
  readonly user: PartyId<"user">;
  readonly server: PartyId<"server">;
  /** The agent's public key, or its public JWK. */
  readonly agent: CryptoKey | AgentJwk;
  readonly payees: readonly PartyId<"publisher">[];
  readonly maxPerPayment: MandateClaims["maxPerPayment"];
  readonly budget: MandateClaims["budget"];
  readonly maxPayments: number;
  readonly period: MandatePeriod;
  readonly expiresAt: Date;
  readonly clock: Clock;
  readonly userKey: KeyPair;
  readonly mandateId?: string;
}

/** The mandate the wallet signs once the user approved it in the consent window. */
export async function createMandate(input: MandateInput): Promise<Mandate> {
  const claims: MandateClaims = {
    v: MANDATE_VERSION,
    mandateId: input.mandateId ?? newNonce(),
    user: input.user,
    server: input.server,
    agent: "kty" in input.agent ? input.agent : agentJwkOf(input.agent),
    payees: [...input.payees],
    maxPerPayment: input.maxPerPayment,
    budget: input.budget,
    maxPayments: input.maxPayments,
    period: input.period,
    consentedAt: timestamp(input.clock.now()),
    expiresAt: timestamp(input.expiresAt),
  };
  const limits = checkLimits(claims);
  if (!limits.ok) throw new RangeError(limits.error.message);
  const mandate = await signJws(JwsTypes.mandate, claims, input.userKey, { kid: jwkThumbprint(input.userKey.publicKey) });
  return { type: "peage.mandate", v: MANDATE_VERSION, mandate };
}

/** Limits that must agree with each other: one currency, a maximum per payment within the budget. */
function checkLimits(claims: MandateClaims): Result<true> {
  const { maxPerPayment, budget } = claims;
  if (maxPerPayment.currency !== budget.currency)
    return fail("ERR_MALFORMED", "mandate: maxPerPayment and budget are in different currencies");
  if (maxPerPayment.amount < 1 || maxPerPayment.amount > budget.amount)
    return fail("ERR_MALFORMED", "mandate: maxPerPayment must be at least 1 and at most the budget");
  return ok(true);
}

export interface MandateCheckOptions {
  readonly clock: Clock;
  readonly server: PartyId<"server">;
  readonly userKey: PaymentRequestCheckOptions["userKey"];
  readonly skewMs?: number;
}

export interface VerifiedMandate {
  readonly mandate: Mandate;
  readonly claims: MandateClaims;
  /** The thumbprint of the user key that signed it. */
  readonly kid: string;
  /** The agent's key, imported, and its thumbprint: the `kid` of the agent's consents. */
  readonly agentKey: UserKey;
  readonly agentKid: string;
}

/**
 * The payment server's check of a mandate (§16.4): shape; signed by a key enrolled for the user it
 * names; meant for this server; limits consistent; signed in the past and not expired; an agent key
 * that is a real public key.
 */
export async function verifyMandate(value: unknown, options: MandateCheckOptions): Promise<Result<VerifiedMandate>> {
  const parsed = mandateParser.parse(value, "mandate");
  if (!parsed.ok) return parsed;
  const decoded = decodeJws(parsed.value.mandate, JwsTypes.mandate);
  if (!decoded.ok) return decoded;
  const { header, payload } = decoded.value;
  const unverified = mandateClaimsParser.parse(payload, "mandate");
  if (!unverified.ok) return unverified;
  const claims = unverified.value;
  const key = await options.userKey(claims.user as PartyId<"user">, header.kid);
  if (!key) return fail("ERR_UNKNOWN_KEY", `no key ${header.kid} is enrolled for ${claims.user}`, { user: claims.user });
  const signature = await verifyJwsSignature(parsed.value.mandate, key.alg, key.publicKey);
  if (!signature.ok) return signature;
  if (claims.server !== options.server)
    return fail("ERR_WRONG_AUDIENCE", `the mandate is for ${claims.server}, not ${options.server}`, { server: claims.server });
  const limits = checkLimits(claims);
  if (!limits.ok) return limits;
  const skew = options.skewMs ?? DEFAULT_CLOCK_SKEW_MS;
  const window = checkWindow(claims.consentedAt, claims.expiresAt, MAX_MANDATE_TTL_MS, options.clock.now(), skew, "mandate");
  if (!window.ok) return window;
  const agentKey = await importAgentKey(claims.agent);
  if (!agentKey) return fail("ERR_MALFORMED", "mandate: the agent's key is not a point of its curve");
  return ok({ mandate: parsed.value, claims, kid: header.kid, agentKey, agentKid: jwkThumbprint(agentKey.publicKey) });
}

export interface AgentPaymentInput {
  readonly offer: Offer;
  readonly mandate: Pick<MandateClaims, "mandateId" | "user" | "server">;
  readonly agentKey: KeyPair;
  readonly clock: Clock;
  readonly ttlMs?: number;
}

/** What the agent sends to pay an offer under a mandate, without asking the user. */
export async function createMandatePayment(input: AgentPaymentInput): Promise<MandatePayment> {
  const ttl = input.ttlMs ?? DEFAULT_CONSENT_TTL_MS;
  if (!(ttl > 0 && ttl <= MAX_CONSENT_TTL_MS)) throw new RangeError(`consent lifetime must be in (0, ${MAX_CONSENT_TTL_MS}] ms`);
  const now = input.clock.now();
  const claims: AgentConsentClaims = {
    v: MANDATE_VERSION,
    mandate: input.mandate.mandateId,
    offerHash: input.offer.offerHash,
    price: input.offer.terms.price,
    date: input.offer.date,
    nonce: input.offer.nonce,
    publisher: input.offer.terms.publisher,
    user: input.mandate.user,
    server: input.mandate.server,
    consentedAt: timestamp(now),
    expiresAt: timestamp(new Date(now.getTime() + ttl)),
  };
  const consent = await signJws(JwsTypes.agentConsent, claims, input.agentKey, { kid: jwkThumbprint(input.agentKey.publicKey) });
  return { type: "peage.mandate-payment", v: MANDATE_VERSION, signature: input.offer.signature, consent };
}

/** A mandate the server holds: its claims and its agent's key. */
export interface RegisteredMandate {
  readonly claims: MandateClaims;
  readonly agentKey: UserKey;
  readonly agentKid: string;
}

export interface MandatePaymentCheckOptions extends Omit<PaymentRequestCheckOptions, "userKey"> {
  /** The registered mandate of that id, if any. */
  readonly mandate: (id: string) => RegisteredMandate | undefined | Promise<RegisteredMandate | undefined>;
}

export interface VerifiedMandatePayment {
  readonly request: MandatePayment;
  readonly consent: AgentConsentClaims;
  readonly mandate: RegisteredMandate;
  readonly publisher: VerifiedOfferSignature;
}

/**
 * The server's check of an agent's payment request (§16.5): shape; the mandate it names is
 * registered for the user it names and its agent's key signed the consent; then §7.5 steps 6 to
 * 12. The mandate's limits (payees, amounts, count, period, expiry, revocation) are the server's
 * to check against its records, in the payment's transaction.
 */
export async function verifyMandatePayment(
  value: unknown,
  options: MandatePaymentCheckOptions,
): Promise<Result<VerifiedMandatePayment>> {
  const parsed = paymentParser.parse(value, "mandate payment");
  if (!parsed.ok) return parsed;
  const decoded = decodeJws(parsed.value.consent, JwsTypes.agentConsent);
  if (!decoded.ok) return decoded;
  const { header, payload } = decoded.value;
  const unverified = agentConsentParser.parse(payload, "agent consent");
  if (!unverified.ok) return unverified;
  const consent = unverified.value;
  const mandate = await options.mandate(consent.mandate);
  if (!mandate || mandate.claims.user !== consent.user || mandate.agentKid !== header.kid) {
    return fail("ERR_UNKNOWN_KEY", `no mandate ${consent.mandate} of ${consent.user} gives the key ${header.kid} to an agent`, {
      mandate: consent.mandate,
    });
  }
  const signature = await verifyJwsSignature(parsed.value.consent, mandate.agentKey.alg, mandate.agentKey.publicKey);
  if (!signature.ok) return signature;
  const publisher = await checkConsentForOffer(consent, parsed.value.signature, options);
  if (!publisher.ok) return publisher;
  return ok({ request: parsed.value, consent, mandate, publisher: publisher.value });
}

/**
 * The period a payment at `at` counts in (§16.3): the UTC day (`2026-01-16`), the UTC month
 * (`2026-01`), or `total` for a mandate whose budget never resets.
 */
export function mandatePeriodKey(period: MandatePeriod, at: Date): string {
  if (period === "total") return "total";
  const iso = at.toISOString();
  return period === "day" ? iso.slice(0, 10) : iso.slice(0, 7);
}

/** Whether a mandate has expired at `at` (its expiry is exclusive: at `expiresAt` it pays nothing more). */
export function mandateExpired(claims: Pick<MandateClaims, "expiresAt">, at: Date): boolean {
  return at.getTime() >= toDate(claims.expiresAt).getTime();
}
