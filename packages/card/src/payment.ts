/**
 * PAY's rules, apart from the APDU plumbing of applet.ts (claims 3-7, 10): the consent read from
 * the command and matched against the card (its user, issuer and currency); a payment asked again
 * recognised by its nonce; the publisher's signed offer checked against the consent, the card's
 * trust anchors and the issuer's revocations; the purse debited within its balance (prepaid) or
 * ceiling (postpaid). Each rule refuses with the status word the card answers.
 */
import {
  checkWindow,
  ConsentClaimsSchema,
  MAX_CONSENT_TTL_MS,
  parser,
  samePrice,
  toDate,
  verifyOfferSignature,
  type CardDebit,
  type ConsentClaims,
  type TrustStore,
} from "@peage/protocol";
import { SW } from "./iso7816.js";
import { MAX_COUNTER, type CardProfile, type LogEntryBody, type Purse } from "./model.js";
import { refuse } from "./refusal.js";
import { certificateId } from "./revocation.js";
import { decodeExactly } from "./tlv.js";
import { PayTags } from "./wire.js";

const consentParser = parser(ConsentClaimsSchema);

/** PAY's data: the user's consent (JSON) and the publisher's signed offer S_E; the consent must be for this card. */
export function readPayData(data: Uint8Array, profile: CardProfile): { consent: ConsentClaims; signature: string } {
  let consentValue: unknown;
  let signature: string;
  try {
    const fields = decodeExactly(data, [PayTags.consent, PayTags.signature]);
    consentValue = JSON.parse(Buffer.from(fields.get(PayTags.consent)!).toString("utf8"));
    signature = Buffer.from(fields.get(PayTags.signature)!).toString("ascii");
  } catch (cause) {
    return refuse(SW.WRONG_DATA, `PAY data: ${(cause as Error).message}`);
  }
  const parsed = consentParser.parse(consentValue, "consent");
  if (!parsed.ok) refuse(SW.WRONG_DATA, parsed.error.message);
  const consent: ConsentClaims = parsed.value;
  if (consent.user !== profile.user) refuse(SW.WRONG_DATA, `the consent is for ${consent.user}, this card is ${profile.user}'s`);
  if (consent.server !== profile.issuer)
    refuse(SW.WRONG_DATA, `the consent is for ${consent.server}, this card was issued by ${profile.issuer}`);
  if (consent.price.currency !== profile.currency)
    refuse(SW.WRONG_DATA, `the price is in ${consent.price.currency}, the card holds ${profile.currency}`);
  return { consent, signature };
}

/**
 * The logged payment of the same nonce (in the log or among the entries recently cleared), if the
 * consent was paid already; the same nonce for another offer is refused.
 */
export function earlierPayment(
  entries: readonly { readonly body: LogEntryBody }[],
  consent: ConsentClaims,
): LogEntryBody | undefined {
  const earlier = entries.find((entry) => entry.body.nonce === consent.nonce)?.body;
  if (
    earlier &&
    (earlier.offerHash !== consent.offerHash ||
      !samePrice(earlier.price, consent.price) ||
      earlier.publisher !== consent.publisher ||
      earlier.date !== consent.date)
  ) {
    refuse(SW.WRONG_DATA, "this nonce was already paid for another offer");
  }
  return earlier;
}

/** What the card checks the offer against: its clock and tolerances, its trust anchors, the issuer's revocations. */
export interface OfferCheck {
  readonly now: Date;
  readonly skewMs: number;
  readonly offerDateToleranceMs: number;
  readonly trust: TrustStore;
  readonly revoked: ReadonlySet<string>;
}

/**
 * The consent is fresh, the offer recent, and the publisher's signature S_E verifies, by a
 * certificate not revoked, over the offer hash and price the consent names. Returns the
 * publisher certificate's id, which the log entry keeps.
 */
export async function checkOffer(consent: ConsentClaims, signature: string, check: OfferCheck): Promise<string> {
  const { now, skewMs } = check;
  const window = checkWindow(consent.consentedAt, consent.expiresAt, MAX_CONSENT_TTL_MS, now, skewMs, "consent");
  if (!window.ok) refuse(SW.WRONG_DATA, window.error.message);
  const offerAge = now.getTime() - toDate(consent.date).getTime();
  if (offerAge > check.offerDateToleranceMs || -offerAge > skewMs) {
    refuse(SW.WRONG_DATA, `the offer dated ${consent.date} is too old or in the future`);
  }
  const publisher = await verifyOfferSignature(signature, check.trust, now);
  if (!publisher.ok) return refuse(SW.WRONG_DATA, `publisher's signature: ${publisher.error.message}`);
  if (publisher.value.publisher !== consent.publisher)
    refuse(SW.WRONG_DATA, "the offer was signed by another publisher than the consent names");
  const publisherCert = certificateId(publisher.value.chain.leaf);
  if (check.revoked.has(publisherCert)) {
    refuse(SW.WRONG_DATA, `the publisher's certificate ${publisherCert} was revoked (the issuer's last SYNC)`);
  }
  if (publisher.value.claims.offerHash !== consent.offerHash)
    refuse(SW.WRONG_DATA, "the consent's offer hash is not the one the publisher signed");
  if (!samePrice(publisher.value.claims.price, consent.price))
    refuse(SW.WRONG_DATA, "the consent's price is not the one the publisher signed");
  return publisherCert;
}

/** The purse after paying `amount`, and the proof of the debit the acknowledgment carries (claim 7). */
export function debitPurse(profile: CardProfile, purse: Purse, amount: number): { next: Purse; debit: CardDebit } {
  if (purse.counter >= MAX_COUNTER) refuse(SW.CONDITIONS_NOT_SATISFIED, "the transaction counter is exhausted");
  const counter = purse.counter + 1;
  if (profile.mode === "prepaid") {
    if (amount > purse.balance!) refuse(SW.CONDITIONS_NOT_SATISFIED, `balance ${purse.balance} is below the price ${amount}`);
    const next = { ...purse, counter, balance: purse.balance! - amount };
    return { next, debit: { counter, balance: next.balance } };
  }
  if (purse.used! + amount > purse.ceiling!)
    refuse(SW.CONDITIONS_NOT_SATISFIED, `the ceiling ${purse.ceiling} is reached (${purse.used} used): synchronise first`);
  const next = { ...purse, counter, used: purse.used! + amount };
  return { next, debit: { counter, used: next.used } };
}
