/**
 * What the card remembers and what it signs. The card's memory is a set of named records in a
 * {@link JournalStore} (store.ts): the personalisation (`profile`, written once), the purse
 * (`purse`), the PIN retry counter (`pin`) and one record per usage log entry (`log.<counter>`).
 * The bodies of the signed records (signed.ts) are defined here with their validators.
 */
import {
  isCurrencyCode,
  isMinorUnits,
  isPartyId,
  isTimestamp,
  noncePattern,
  type CardDebit,
  type CurrencyCode,
  type PartyId,
  type Price,
  type Timestamp,
} from "@peage/protocol";

export const CARD_FORMAT = "peage-card/1";
export const CARD_VERSION = 1;

/** The PIN may fail this many times in a row before the card blocks (claims 3-4). */
export const PIN_TRIES = 3;
/** Entries the usage log holds before the card refuses to pay until a sync (6A84). */
export const DEFAULT_LOG_CAPACITY = 200;
/** Largest prepaid balance a reload may reach, in minor units, unless the issuer sets another. */
export const DEFAULT_MAX_BALANCE = 1_000_000;
/** The counters are four-byte unsigned integers on the wire (docs/card.md). */
export const MAX_COUNTER = 0xffffffff;

export type CardMode = "prepaid" | "postpaid";

/**
 * Claim 10: a postpaid card is handed out against a deposit greater than its ceiling ("une
 * caution supérieure à ce plafond"), so that what the card can spend unseen between two syncs is
 * always covered. The smallest deposit a ceiling needs, minor units.
 */
export function minimumDeposit(ceiling: number): number {
  return ceiling + 1;
}

/** Written at personalisation and never changed. */
export interface CardProfile {
  readonly format: typeof CARD_FORMAT;
  readonly card: PartyId<"card">;
  readonly user: PartyId<"user">;
  /** The payment server that issued the card: its card-issuer CA certified the card's key. */
  readonly issuer: PartyId<"server">;
  readonly mode: CardMode;
  readonly currency: CurrencyCode;
  /** The card's own ES256 key pair, made at personalisation: PKCS#8 PEM. It never leaves the card. */
  readonly key: string;
  /** x5c of the card's certificate: the card's, the issuer CA's and the intermediates above it. */
  readonly chain: readonly string[];
  /** The trust anchors the card checks publishers' chains against (base64 DER). */
  readonly roots: readonly string[];
  /** The issuing server's key for reload and sync commands: SPKI PEM. */
  readonly issuerKey: string;
  readonly logCapacity: number;
  /** Prepaid: the largest balance a reload may reach. */
  readonly maxBalance: number;
  readonly pin: { readonly salt: string; readonly hmac: string };
}

/** The purse: counters and money. Prepaid holds a balance, postpaid a ceiling and what is used. */
export interface Purse {
  /** The transaction counter: the counter of the last payment, 0 before the first. */
  readonly counter: number;
  /** Issuer commands (reload, sync) applied so far; the next one must carry this number. */
  readonly seq: number;
  readonly balance?: number;
  readonly ceiling?: number;
  readonly used?: number;
}

export interface PinRecord {
  readonly tries: number;
}

export const Records = {
  profile: "profile",
  purse: "purse",
  pin: "pin",
  /** The last entries a SYNC cleared: a payment asked again after a sync is answered, not paid twice. */
  recent: "recent",
  /** The publishers' certificates the issuer said were revoked, in its last SYNC that carried a list. */
  revoked: "revoked",
  logPrefix: "log.",
} as const;

/** Most revoked certificates a SYNC carries (the card keeps them all; the issuer sends the newest). */
export const MAX_REVOKED = 100;

/**
 * A publisher certificate as the card and the issuer name it for revocation: the SHA-256 of its
 * issuer's name (DER, base64url) and its serial number (lower-case hex, no leading zeros) —
 * RFC 6960's CertID, less the issuer key hash, so that a CRL entry (issuer, serial) names it too.
 */
export type CertificateId = string;
export const certificateIdPattern = /^[A-Za-z0-9_-]{43}:[0-9a-f]{1,40}$/;

/** How many cleared entries the card keeps for answering repeated payments. */
export const RECENT_ENTRIES = 32;

/** Log records are named by their counter, zero-padded so that names sort as counters do. */
export function logRecordName(counter: number): string {
  return `${Records.logPrefix}${counter.toString().padStart(10, "0")}`;
}

/** What the purse shows: the balance (prepaid) or the ceiling and what is used (postpaid). */
export type PurseView = { readonly balance: number } | { readonly ceiling: number; readonly used: number };

export function purseView(purse: Purse): PurseView {
  return purse.balance !== undefined ? { balance: purse.balance } : { ceiling: purse.ceiling!, used: purse.used! };
}

/** One payment, as the card logs it and signs it before it signs the acknowledgment (claims 6-7). */
export interface LogEntryBody {
  readonly type: "peage.card-log-entry";
  readonly v: typeof CARD_VERSION;
  readonly card: PartyId<"card">;
  readonly counter: number;
  readonly paymentId: string;
  readonly user: PartyId<"user">;
  readonly publisher: PartyId<"publisher">;
  readonly offerHash: string;
  readonly price: Price;
  readonly nonce: string;
  /** The offer's date. */
  readonly date: Timestamp;
  /** The card's time of the payment: the acknowledgment's serverTime. */
  readonly time: Timestamp;
  /** What the acknowledgment carries as proof of debit. */
  readonly debit: CardDebit;
  /** The publisher's certificate that signed the offer, so that the issuer can check its revocation at sync. */
  readonly publisherCert?: CertificateId;
}

/** The card's signed statement of its counters, over a challenge of the server (freshness). */
export interface LogHeadBody {
  readonly type: "peage.card-log-head";
  readonly v: typeof CARD_VERSION;
  readonly card: PartyId<"card">;
  readonly challenge: string;
  /** The transaction counter: the last entry's counter. */
  readonly counter: number;
  /** The counter of the first entry still in the log; counter + 1 when the log is empty. */
  readonly first: number;
  readonly seq: number;
  readonly purse: PurseView;
  readonly time: Timestamp;
}

/** A reload of a prepaid card, signed by the issuing server (claim 8). */
export interface ReloadBody {
  readonly type: "peage.card-reload";
  readonly v: typeof CARD_VERSION;
  readonly card: PartyId<"card">;
  readonly seq: number;
  /** The server's reference for this reload (which payment of the user funded it). */
  readonly id: string;
  readonly amount: Price;
}

/** The issuing server's acknowledgment of the log up to `upTo`: the card may forget those entries. */
export interface SyncBody {
  readonly type: "peage.card-sync";
  readonly v: typeof CARD_VERSION;
  readonly card: PartyId<"card">;
  readonly seq: number;
  readonly id: string;
  /** The last counter the server recorded; 0 acknowledges nothing. */
  readonly upTo: number;
  /** Postpaid: the new ceiling, if the server changes it. */
  readonly ceiling?: number;
  /** The publishers' certificates revoked as the issuer knows them (replaces the card's list; absent: unchanged). */
  readonly revoked?: readonly CertificateId[];
}

/** The card's receipt for a reload or a sync it applied. */
export interface ReceiptBody {
  readonly type: "peage.card-receipt";
  readonly v: typeof CARD_VERSION;
  readonly card: PartyId<"card">;
  readonly command: "reload" | "sync";
  readonly id: string;
  /** The seq the command carried; the card now expects seq + 1. */
  readonly seq: number;
  readonly counter: number;
  readonly first: number;
  readonly purse: PurseView;
  readonly time: Timestamp;
}

const idPattern = /^[A-Za-z0-9_-]{1,64}$/;
const hashPattern = /^[A-Za-z0-9_-]{43}$/;
const challengePattern = /^[A-Za-z0-9_-]{11,86}$/;
const nonceRegExp = new RegExp(noncePattern);

type Fields = Record<string, unknown>;

function exactKeys(value: unknown, required: readonly string[], optional: readonly string[] = []): value is Fields {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  return required.every((key) => keys.includes(key)) && keys.every((key) => required.includes(key) || optional.includes(key));
}

export function isCounter(value: unknown, min = 0): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= min && value <= MAX_COUNTER;
}

export function isPrice(value: unknown): value is Price {
  return exactKeys(value, ["amount", "currency"]) && isMinorUnits(value["amount"]) && isCurrencyCode(value["currency"]);
}

export function isDebit(value: unknown): value is CardDebit {
  if (exactKeys(value, ["counter", "balance"])) return isCounter(value["counter"], 1) && isMinorUnits(value["balance"]);
  if (exactKeys(value, ["counter", "used"])) return isCounter(value["counter"], 1) && isMinorUnits(value["used"]);
  return false;
}

export function isPurseView(value: unknown): value is PurseView {
  if (exactKeys(value, ["balance"])) return isMinorUnits(value["balance"]);
  if (exactKeys(value, ["ceiling", "used"])) return isMinorUnits(value["ceiling"]) && isMinorUnits(value["used"]);
  return false;
}

export function isLogEntryBody(value: unknown): value is LogEntryBody {
  const keys = [
    "type",
    "v",
    "card",
    "counter",
    "paymentId",
    "user",
    "publisher",
    "offerHash",
    "price",
    "nonce",
    "date",
    "time",
    "debit",
  ];
  if (!exactKeys(value, keys, ["publisherCert"])) return false;
  if (value["publisherCert"] !== undefined && !isCertificateId(value["publisherCert"])) return false;
  return (
    value["type"] === "peage.card-log-entry" &&
    value["v"] === CARD_VERSION &&
    isPartyId(value["card"], "card") &&
    isCounter(value["counter"], 1) &&
    typeof value["paymentId"] === "string" &&
    idPattern.test(value["paymentId"]) &&
    isPartyId(value["user"], "user") &&
    isPartyId(value["publisher"], "publisher") &&
    typeof value["offerHash"] === "string" &&
    hashPattern.test(value["offerHash"]) &&
    isPrice(value["price"]) &&
    typeof value["nonce"] === "string" &&
    nonceRegExp.test(value["nonce"]) &&
    isTimestamp(value["date"]) &&
    isTimestamp(value["time"]) &&
    isDebit(value["debit"]) &&
    value["debit"].counter === value["counter"]
  );
}

export function isLogHeadBody(value: unknown): value is LogHeadBody {
  if (!exactKeys(value, ["type", "v", "card", "challenge", "counter", "first", "seq", "purse", "time"])) return false;
  return (
    value["type"] === "peage.card-log-head" &&
    value["v"] === CARD_VERSION &&
    isPartyId(value["card"], "card") &&
    typeof value["challenge"] === "string" &&
    challengePattern.test(value["challenge"]) &&
    isCounter(value["counter"]) &&
    isCounter(value["first"], 1) &&
    value["first"] <= value["counter"] + 1 &&
    isCounter(value["seq"]) &&
    isPurseView(value["purse"]) &&
    isTimestamp(value["time"])
  );
}

export function isReloadBody(value: unknown): value is ReloadBody {
  if (!exactKeys(value, ["type", "v", "card", "seq", "id", "amount"])) return false;
  return (
    value["type"] === "peage.card-reload" &&
    value["v"] === CARD_VERSION &&
    isPartyId(value["card"], "card") &&
    isCounter(value["seq"]) &&
    typeof value["id"] === "string" &&
    idPattern.test(value["id"]) &&
    isPrice(value["amount"]) &&
    value["amount"].amount > 0
  );
}

export function isSyncBody(value: unknown): value is SyncBody {
  if (!exactKeys(value, ["type", "v", "card", "seq", "id", "upTo"], ["ceiling", "revoked"])) return false;
  if (value["revoked"] !== undefined && !isRevokedList(value["revoked"])) return false;
  return (
    value["type"] === "peage.card-sync" &&
    value["v"] === CARD_VERSION &&
    isPartyId(value["card"], "card") &&
    isCounter(value["seq"]) &&
    typeof value["id"] === "string" &&
    idPattern.test(value["id"]) &&
    isCounter(value["upTo"]) &&
    (value["ceiling"] === undefined || isMinorUnits(value["ceiling"]))
  );
}

export function isCertificateId(value: unknown): value is CertificateId {
  return typeof value === "string" && certificateIdPattern.test(value);
}

export function isRevokedList(value: unknown): value is readonly CertificateId[] {
  return Array.isArray(value) && value.length <= MAX_REVOKED && value.every(isCertificateId);
}

export function isReceiptBody(value: unknown): value is ReceiptBody {
  if (!exactKeys(value, ["type", "v", "card", "command", "id", "seq", "counter", "first", "purse", "time"])) return false;
  return (
    value["type"] === "peage.card-receipt" &&
    value["v"] === CARD_VERSION &&
    isPartyId(value["card"], "card") &&
    (value["command"] === "reload" || value["command"] === "sync") &&
    typeof value["id"] === "string" &&
    idPattern.test(value["id"]) &&
    isCounter(value["seq"]) &&
    isCounter(value["counter"]) &&
    isCounter(value["first"], 1) &&
    isPurseView(value["purse"]) &&
    isTimestamp(value["time"])
  );
}

/** Checks a record read back from the card's memory; a card whose memory fails this is unusable. */
export function isPurse(value: unknown, mode: CardMode): value is Purse {
  if (mode === "prepaid") {
    return (
      exactKeys(value, ["counter", "seq", "balance"]) &&
      isCounter(value["counter"]) &&
      isCounter(value["seq"]) &&
      isMinorUnits(value["balance"])
    );
  }
  return (
    exactKeys(value, ["counter", "seq", "ceiling", "used"]) &&
    isCounter(value["counter"]) &&
    isCounter(value["seq"]) &&
    isMinorUnits(value["ceiling"]) &&
    isMinorUnits(value["used"])
  );
}

export function isPinRecord(value: unknown): value is PinRecord {
  return (
    exactKeys(value, ["tries"]) &&
    typeof value["tries"] === "number" &&
    Number.isInteger(value["tries"]) &&
    value["tries"] >= 0 &&
    value["tries"] <= PIN_TRIES
  );
}

export function isProfile(value: unknown): value is CardProfile {
  const keys = [
    "format",
    "card",
    "user",
    "issuer",
    "mode",
    "currency",
    "key",
    "chain",
    "roots",
    "issuerKey",
    "logCapacity",
    "maxBalance",
    "pin",
  ];
  if (!exactKeys(value, keys)) return false;
  const strings = (v: unknown): v is string[] => Array.isArray(v) && v.length > 0 && v.every((s) => typeof s === "string");
  return (
    value["format"] === CARD_FORMAT &&
    isPartyId(value["card"], "card") &&
    isPartyId(value["user"], "user") &&
    isPartyId(value["issuer"], "server") &&
    (value["mode"] === "prepaid" || value["mode"] === "postpaid") &&
    isCurrencyCode(value["currency"]) &&
    typeof value["key"] === "string" &&
    strings(value["chain"]) &&
    strings(value["roots"]) &&
    typeof value["issuerKey"] === "string" &&
    isCounter(value["logCapacity"], 1) &&
    isMinorUnits(value["maxBalance"]) &&
    exactKeys(value["pin"], ["salt", "hmac"])
  );
}
