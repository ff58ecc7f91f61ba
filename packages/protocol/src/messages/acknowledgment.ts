/**
 * Message 3, the acknowledgment: S_SP(offer_h, price, nonce, date) of the patent, a JWS of type
 * `peage-ack+jws` by a payment server whose certificate has the acknowledgment-signing role
 * (chain in x5c), with the payment's id and the server's time. The merchant checks it against
 * the offer it sent and only then lets the program go on.
 *
 * In the offline variant (claims 3-10, figure 3) a smart card signs it instead: its `server` claim
 * is the card's identity (urn:peage:card:*), its chain has the card-acknowledgment role and runs
 * through the card-issuer CA of the payment server that issued the card, and it carries the proof
 * of the debit (`debit`, claims 6-7). docs/card.md describes the card.
 */
import { fail, ok, type Result } from "../errors.js";
import { isPartyId, type PartyId } from "../identity.js";
import { decodeJws, JwsTypes, signJws, verifyJwsSignature } from "../jws.js";
import type { SigningKey } from "../keys.js";
import { samePrice, type Price } from "../money.js";
import { subjectAltNameUris } from "../pki/certificate.js";
import type { Role } from "../pki/profile.js";
import type { TrustStore, ValidatedChain } from "../pki/validate.js";
import { timestamp, toDate, type Clock } from "../time.js";
import { DEFAULT_CLOCK_SKEW_MS } from "./offer.js";
import {
  AcknowledgmentClaimsSchema,
  AcknowledgmentSchema,
  parser,
  PROTOCOL_VERSION,
  type Acknowledgment,
  type AcknowledgmentClaims,
  type CardDebit,
  type ConsentClaims,
  type Offer,
} from "./schema.js";

const ackParser = parser(AcknowledgmentSchema);
const claimsParser = parser(AcknowledgmentClaimsSchema);

export interface AcknowledgmentInput {
  readonly consent: ConsentClaims;
  readonly paymentId: string;
  /** The signer: a payment server, or a smart card in the offline variant. */
  readonly server: PartyId<"server"> | PartyId<"card">;
  readonly charged: Price;
  readonly rate?: string;
  /** A card's proof of debit (claims 6-7); a card must set it, a server has none to give. */
  readonly debit?: CardDebit;
  readonly key: SigningKey;
  readonly x5c: readonly string[];
  readonly clock: Clock;
}

/** What the payment server returns once the payment is recorded. */
export async function signAcknowledgment(input: AcknowledgmentInput): Promise<Acknowledgment> {
  const { consent } = input;
  // Members in RFC 8785 order (by name), so that the canonical form is the claims as written.
  const claims: AcknowledgmentClaims = {
    charged: input.charged,
    date: consent.date,
    ...(input.debit === undefined ? {} : { debit: input.debit }),
    nonce: consent.nonce,
    offerHash: consent.offerHash,
    paymentId: input.paymentId,
    price: consent.price,
    publisher: consent.publisher,
    ...(input.rate === undefined ? {} : { rate: input.rate }),
    server: input.server,
    serverTime: timestamp(input.clock.now()),
    user: consent.user,
    v: PROTOCOL_VERSION,
  };
  const acknowledgment = await signJws(JwsTypes.acknowledgment, claims, input.key, { x5c: input.x5c });
  return { type: "peage.acknowledgment", v: PROTOCOL_VERSION, acknowledgment };
}

export interface AcknowledgmentCheckOptions {
  readonly trust: TrustStore;
  readonly clock: Clock;
  /**
   * Accept acknowledgments only from this server, when set; a card's acknowledgment counts as its
   * issuing server's.
   */
  readonly server?: PartyId<"server">;
  /** Whether acknowledgments signed by smart cards (offline variant) are accepted; default true. */
  readonly acceptCards?: boolean;
  /** How long after the offer's expiry an acknowledgment is still accepted. */
  readonly graceMs?: number;
}

export interface VerifiedAcknowledgment {
  readonly claims: AcknowledgmentClaims;
  readonly chain: ValidatedChain;
  /** The server's time of the payment: what periods granted by it are counted from. */
  readonly serverTime: Date;
  /** Present when a smart card signed: the card, the payment server that issued it, and the debit. */
  readonly card?: VerifiedCardDebit;
}

export interface VerifiedCardDebit {
  readonly card: PartyId<"card">;
  /** The payment server whose card-issuer CA certified the card (rules.ts cardIssuerIdentity). */
  readonly issuer: PartyId<"server">;
  readonly debit: CardDebit;
}

/**
 * The merchant's check of message 3 against the offer it sent: a payment-server chain with the
 * acknowledgment role (or a card chain with the card-acknowledgment role, through the card
 * issuer of a payment server), a valid signature, and exactly the offer's hash, price, nonce and date.
 */
export async function verifyAcknowledgment(
  value: unknown,
  offer: Offer,
  options: AcknowledgmentCheckOptions,
): Promise<Result<VerifiedAcknowledgment>> {
  const parsed = ackParser.parse(value, "acknowledgment");
  if (!parsed.ok) return parsed;
  const token = parsed.value.acknowledgment;
  const decoded = decodeJws(token, JwsTypes.acknowledgment);
  if (!decoded.ok) return decoded;
  const { header, payload } = decoded.value;

  const now = options.clock.now();
  if (toDate(offer.expiresAt).getTime() + (options.graceMs ?? DEFAULT_CLOCK_SKEW_MS) < now.getTime()) {
    return fail("ERR_MESSAGE_EXPIRED", `the offer this acknowledgment answers expired at ${offer.expiresAt}`);
  }
  // The claimed signer only picks the role to validate for; it is then checked against the chain.
  const claimed = typeof payload === "object" && payload !== null ? (payload as Record<string, unknown>)["server"] : undefined;
  const byCard = isPartyId(claimed, "card");
  if (byCard && options.acceptCards === false)
    return fail("ERR_WRONG_ROLE", "acknowledgments signed by smart cards are not accepted here");
  const role: Role = byCard ? "card-acknowledgment" : "acknowledgment-signing";
  const chain = await options.trust.validate(header.x5c, role, now);
  if (!chain.ok) return chain;
  const signature = await verifyJwsSignature(token, chain.value.alg, chain.value.publicKey);
  if (!signature.ok) return signature;
  const claims = claimsParser.parse(payload, "acknowledgment");
  if (!claims.ok) return claims;
  const ack = claims.value;

  if (ack.server !== chain.value.identity) {
    return fail("ERR_IDENTITY_MISMATCH", `the acknowledgment names ${ack.server} but was signed by ${chain.value.identity}`);
  }
  let card: VerifiedCardDebit | undefined;
  if (byCard) {
    // rules.ts checked that the card's issuer is a card-issuer CA naming exactly one server.
    const issuer = subjectAltNameUris(chain.value.path[1]!)[0] as PartyId<"server">;
    if (!ack.debit) return fail("ERR_MALFORMED", "a card's acknowledgment carries no proof of debit (debit)");
    card = { card: ack.server as PartyId<"card">, issuer, debit: ack.debit };
  } else if (ack.debit) {
    return fail("ERR_MALFORMED", "a payment server's acknowledgment carries a card's proof of debit (debit)");
  }
  const accountable = card ? card.issuer : ack.server;
  const accepted = offer.terms.servers;
  if (accepted !== undefined && !accepted.includes(accountable as PartyId<"server">)) {
    return fail(
      "ERR_WRONG_AUDIENCE",
      `the acknowledgment comes from ${ack.server}${card ? ` (a card issued by ${card.issuer})` : ""}; the signed offer accepts ${accepted.join(", ")} only`,
    );
  }
  if (options.server !== undefined && accountable !== options.server) {
    return fail(
      "ERR_WRONG_AUDIENCE",
      `the acknowledgment comes from ${ack.server}${card ? ` (a card issued by ${card.issuer})` : ""}, not ${options.server}`,
    );
  }
  if (ack.offerHash !== offer.offerHash) return fail("ERR_HASH_MISMATCH", "the acknowledgment is for another offer");
  if (!samePrice(ack.price, offer.terms.price)) {
    return fail("ERR_PRICE_MISMATCH", "the acknowledgment's price is not the offer's", {
      acknowledged: ack.price,
      offered: offer.terms.price,
    });
  }
  if (ack.publisher !== offer.terms.publisher) return fail("ERR_IDENTITY_MISMATCH", "the acknowledgment names another publisher");
  if (ack.nonce !== offer.nonce)
    return fail("ERR_NONCE_MISMATCH", "the acknowledgment answers another instance of this offer (nonce differs)");
  if (ack.date !== offer.date) return fail("ERR_DATE_MISMATCH", "the acknowledgment's date is not the offer's");
  return ok({ claims: ack, chain: chain.value, serverTime: toDate(ack.serverTime), ...(card && { card }) });
}
