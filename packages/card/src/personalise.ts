/**
 * Personalisation: how a blank card becomes a user's card, at the issuing payment server. The
 * card makes its own ES256 key pair (its private key is written to the card's memory and never
 * handed out), the issuer certifies the public half (issuer/certificates.ts), and the card's
 * records are written in one transaction: identity, chain, trust anchors, the issuer's command
 * key, the PIN's reference data, the purse. `peage card issue` calls {@link issueCard}.
 */
import {
  exportPrivateKeyPem,
  exportPublicKeyPem,
  generateKeyPair,
  isPartyId,
  minorUnits,
  parseCurrency,
  toX5c,
  type PartyId,
  type x509,
} from "@peage/protocol";
import { commandKeyOf, issueCardCertificate, type CardIssuer } from "./issuer/certificates.js";
import {
  CARD_FORMAT,
  DEFAULT_LOG_CAPACITY,
  DEFAULT_MAX_BALANCE,
  PIN_TRIES,
  Records,
  type CardMode,
  type CardProfile,
  type Purse,
} from "./model.js";
import { pinReference } from "./pin.js";
import { JournalStore, type Medium } from "./store.js";

export interface IssueCardOptions {
  readonly issuer: CardIssuer;
  readonly card: PartyId<"card">;
  readonly user: PartyId<"user">;
  readonly pin: string;
  readonly mode: CardMode;
  readonly currency: string;
  /** Prepaid: the balance loaded at issue (minor units, default 0). */
  readonly balance?: number;
  /** Postpaid: the ceiling (minor units). */
  readonly ceiling?: number;
  /** Trust anchors the card checks publishers' chains against. */
  readonly roots: readonly x509.X509Certificate[];
  /** The issuing time; the certificate is valid from an hour before. */
  readonly now?: Date;
  readonly validityDays?: number;
  readonly logCapacity?: number;
  readonly maxBalance?: number;
  /**
   * A key made outside the card's memory (a PC store's key in its TPM): its public half is
   * certified and `reference` stands in the profile for the private half, which the applet's
   * `signer` option then uses. Absent: the card makes its key pair in its memory.
   */
  readonly externalKey?: { readonly publicKey: CryptoKey; readonly reference: string };
  /** Certificate policies for the card's certificate (a PC store's assurance level). */
  readonly policies?: readonly string[];
}

export interface IssuedCard {
  readonly card: PartyId<"card">;
  readonly certificate: x509.X509Certificate;
  /** The card's x5c: its certificate, the issuer CA's, and the intermediates above. */
  readonly chain: readonly string[];
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Personalises the blank card whose memory is `medium`. Refuses a card already personalised. */
export async function issueCard(medium: Medium, options: IssueCardOptions): Promise<IssuedCard> {
  if (!isPartyId(options.card, "card")) throw new TypeError(`${String(options.card)} is not a card identity (urn:peage:card:*)`);
  if (!isPartyId(options.user, "user")) throw new TypeError(`${String(options.user)} is not a user identity (urn:peage:user:*)`);
  const currency = parseCurrency(options.currency);
  const logCapacity = options.logCapacity ?? DEFAULT_LOG_CAPACITY;
  if (!(Number.isInteger(logCapacity) && logCapacity >= 1 && logCapacity <= 0xffff))
    throw new RangeError("the log holds 1 to 65535 entries");
  const maxBalance = minorUnits(options.maxBalance ?? DEFAULT_MAX_BALANCE);
  let purse: Purse;
  if (options.mode === "prepaid") {
    const balance = minorUnits(options.balance ?? 0);
    if (balance > maxBalance) throw new RangeError("the initial balance exceeds the purse's limit");
    if (options.ceiling !== undefined) throw new TypeError("a prepaid card has no ceiling");
    purse = { counter: 0, seq: 0, balance };
  } else if (options.mode === "postpaid") {
    if (options.ceiling === undefined) throw new TypeError("a postpaid card needs a ceiling");
    if (options.balance !== undefined) throw new TypeError("a postpaid card has no balance");
    purse = { counter: 0, seq: 0, ceiling: minorUnits(options.ceiling), used: 0 };
  } else {
    throw new TypeError(`unknown mode ${String(options.mode)}`);
  }
  const pin = pinReference(options.pin);

  const store = new JournalStore(medium);
  if (store.names().length > 0) throw new Error("this card is already personalised");

  // On the card: the key pair is made here and only its public half goes to the issuer.
  const key = options.externalKey ? undefined : await generateKeyPair("ES256");
  const now = options.now ?? new Date();
  const { certificate, chain } = await issueCardCertificate({
    issuer: options.issuer,
    card: options.card,
    publicKey: key ? key.publicKey : options.externalKey!.publicKey,
    ...(options.policies && { policies: options.policies }),
    notBefore: new Date(now.getTime() - HOUR),
    notAfter: new Date(now.getTime() + (options.validityDays ?? 3 * 365) * DAY),
  });
  const profile: CardProfile = {
    format: CARD_FORMAT,
    card: options.card,
    user: options.user,
    issuer: options.issuer.identity,
    mode: options.mode,
    currency,
    key: key ? exportPrivateKeyPem(key) : options.externalKey!.reference,
    chain,
    roots: options.roots.map(toX5c),
    issuerKey: exportPublicKeyPem(commandKeyOf(options.issuer).publicKey),
    logCapacity,
    maxBalance,
    pin,
  };
  store.commit([
    { put: Records.profile, value: profile },
    { put: Records.purse, value: purse },
    { put: Records.pin, value: { tries: PIN_TRIES } },
  ]);
  return { card: options.card, certificate, chain };
}
