/**
 * Message 3, the acknowledgment: S_SP(offer_h, price, nonce, date) of the patent, a JWS of type
 * `peage-ack+jws` by a payment server whose certificate has the acknowledgment-signing role
 * (chain in x5c), with the payment's id and the server's time. The merchant checks it against
 * the offer it sent and only then lets the program go on.
 */
import { fail, ok, type Result } from "../errors.js";
import type { PartyId } from "../identity.js";
import { decodeJws, JwsTypes, signJws, verifyJwsSignature } from "../jws.js";
import type { KeyPair } from "../keys.js";
import { samePrice, type Price } from "../money.js";
import type { TrustStore, ValidatedChain } from "../pki/validate.js";
import { timestamp, toDate, type Clock } from "../time.js";
import { DEFAULT_CLOCK_SKEW_MS } from "./offer.js";
import { AcknowledgmentClaimsSchema, AcknowledgmentSchema, parser, PROTOCOL_VERSION, type Acknowledgment, type AcknowledgmentClaims, type ConsentClaims, type Offer } from "./schema.js";

const ackParser = parser(AcknowledgmentSchema);
const claimsParser = parser(AcknowledgmentClaimsSchema);

export interface AcknowledgmentInput {
  readonly consent: ConsentClaims;
  readonly paymentId: string;
  readonly server: PartyId<"server">;
  readonly charged: Price;
  readonly rate?: string;
  readonly key: KeyPair;
  readonly x5c: readonly string[];
  readonly clock: Clock;
}

/** What the payment server returns once the payment is recorded. */
export async function signAcknowledgment(input: AcknowledgmentInput): Promise<Acknowledgment> {
  const { consent } = input;
  const claims: AcknowledgmentClaims = {
    v: PROTOCOL_VERSION,
    paymentId: input.paymentId,
    server: input.server,
    user: consent.user,
    publisher: consent.publisher,
    offerHash: consent.offerHash,
    price: consent.price,
    nonce: consent.nonce,
    date: consent.date,
    serverTime: timestamp(input.clock.now()),
    charged: input.charged,
    ...(input.rate === undefined ? {} : { rate: input.rate }),
  };
  const acknowledgment = await signJws(JwsTypes.acknowledgment, claims, input.key, { x5c: input.x5c });
  return { type: "peage.acknowledgment", v: PROTOCOL_VERSION, acknowledgment };
}

export interface AcknowledgmentCheckOptions {
  readonly trust: TrustStore;
  readonly clock: Clock;
  /** Accept acknowledgments only from this server, when set. */
  readonly server?: PartyId<"server">;
  /** How long after the offer's expiry an acknowledgment is still accepted. */
  readonly graceMs?: number;
}

export interface VerifiedAcknowledgment {
  readonly claims: AcknowledgmentClaims;
  readonly chain: ValidatedChain;
  /** The server's time of the payment: what periods granted by it are counted from. */
  readonly serverTime: Date;
}

/**
 * The merchant's check of message 3 against the offer it sent: a payment-server chain with the
 * acknowledgment role, a valid signature, and exactly the offer's hash, price, nonce and date.
 */
export async function verifyAcknowledgment(value: unknown, offer: Offer, options: AcknowledgmentCheckOptions): Promise<Result<VerifiedAcknowledgment>> {
  const parsed = ackParser.parse(value, "acknowledgment");
  if (!parsed.ok) return parsed;
  const token = parsed.value.acknowledgment;
  const decoded = decodeJws(token, JwsTypes.acknowledgment);
  if (!decoded.ok) return decoded;
  const { header, payload } = decoded.value;
  if (!header.x5c) return fail("ERR_MALFORMED", "the acknowledgment carries no certificate chain (x5c)");

  const now = options.clock.now();
  if (toDate(offer.expiresAt).getTime() + (options.graceMs ?? DEFAULT_CLOCK_SKEW_MS) < now.getTime()) {
    return fail("ERR_MESSAGE_EXPIRED", `the offer this acknowledgment answers expired at ${offer.expiresAt}`);
  }
  const chain = await options.trust.validate(header.x5c, "acknowledgment-signing", now);
  if (!chain.ok) return chain;
  const signature = await verifyJwsSignature(token, chain.value.alg, chain.value.publicKey);
  if (!signature.ok) return signature;
  const claims = claimsParser.parse(payload, "acknowledgment");
  if (!claims.ok) return claims;
  const ack = claims.value;

  if (ack.server !== chain.value.identity) {
    return fail("ERR_IDENTITY_MISMATCH", `the acknowledgment names ${ack.server} but was signed by ${chain.value.identity}`);
  }
  if (options.server !== undefined && ack.server !== options.server) {
    return fail("ERR_WRONG_AUDIENCE", `the acknowledgment comes from ${ack.server}, not ${options.server}`);
  }
  if (ack.offerHash !== offer.offerHash) return fail("ERR_HASH_MISMATCH", "the acknowledgment is for another offer");
  if (!samePrice(ack.price, offer.terms.price)) {
    return fail("ERR_PRICE_MISMATCH", "the acknowledgment's price is not the offer's", { acknowledged: ack.price, offered: offer.terms.price });
  }
  if (ack.publisher !== offer.terms.publisher) return fail("ERR_IDENTITY_MISMATCH", "the acknowledgment names another publisher");
  if (ack.nonce !== offer.nonce) return fail("ERR_NONCE_MISMATCH", "the acknowledgment answers another instance of this offer (nonce differs)");
  if (ack.date !== offer.date) return fail("ERR_DATE_MISMATCH", "the acknowledgment's date is not the offer's");
  return ok({ claims: ack, chain: chain.value, serverTime: toDate(ack.serverTime) });
}
