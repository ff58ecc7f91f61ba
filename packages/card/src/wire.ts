/**
 * The data fields of the Péage card commands, shared by the card (applet.ts) and the terminal
 * (client.ts): BER-TLV objects in the private class (tags C0-DF, ISO/IEC 7816-4:2005 §5.2.2),
 * whose meaning docs/card.md gives. Integers are unsigned big-endian.
 */
import { isCurrencyCode, isPartyId, type CurrencyCode, type PartyId } from "@peage/protocol";
import { PEAGE_AID } from "./iso7816.js";
import type { CardMode } from "./model.js";
import { concatTlv, decodeTlvs, encodeTlv, readUint, TlvError, uintBytes } from "./tlv.js";

/** PAY command data: the consent claims (JSON, UTF-8) and the publisher's signature S_E (JWS). */
export const PayTags = { consent: 0xc1, signature: 0xc2 } as const;

/** The status object of GET DATA DF01. */
export const StatusTags = {
  card: 0xc1,
  user: 0xc2,
  issuer: 0xc3,
  mode: 0xc4,
  currency: 0xc5,
  balance: 0xc6,
  ceiling: 0xc7,
  used: 0xc8,
  counter: 0xc9,
  logLength: 0xca,
  logCapacity: 0xcb,
  pinTries: 0xcc,
  pinVerified: 0xcd,
  seq: 0xce,
} as const;

/** GET DATA DF02: the card's x5c chain, one DER certificate per object. */
export const CERTIFICATE_TAG = 0xc0;

export interface CardStatus {
  readonly card: PartyId<"card">;
  readonly user: PartyId<"user">;
  /** The payment server that issued the card and receives its log. */
  readonly issuer: PartyId<"server">;
  readonly mode: CardMode;
  readonly currency: CurrencyCode;
  /** Prepaid: the balance, minor units. */
  readonly balance?: number;
  /** Postpaid: the ceiling and what was used since the last sync, minor units. */
  readonly ceiling?: number;
  readonly used?: number;
  /** The transaction counter (the last payment's). */
  readonly counter: number;
  /** The number the next reload or sync command must carry. */
  readonly seq: number;
  readonly logLength: number;
  readonly logCapacity: number;
  readonly pinTriesLeft: number;
  /** Whether the PIN was verified in this session (since power-on, reset or SELECT). */
  readonly pinVerified: boolean;
}

const text = (value: string): Uint8Array => new Uint8Array(Buffer.from(value, "utf8"));

export function encodeStatus(status: CardStatus): Uint8Array {
  const t = StatusTags;
  return concatTlv(
    encodeTlv(t.card, text(status.card)),
    encodeTlv(t.user, text(status.user)),
    encodeTlv(t.issuer, text(status.issuer)),
    encodeTlv(t.mode, Uint8Array.of(status.mode === "prepaid" ? 1 : 2)),
    encodeTlv(t.currency, text(status.currency)),
    ...(status.balance !== undefined ? [encodeTlv(t.balance, uintBytes(status.balance, 8))] : []),
    ...(status.ceiling !== undefined ? [encodeTlv(t.ceiling, uintBytes(status.ceiling, 8))] : []),
    ...(status.used !== undefined ? [encodeTlv(t.used, uintBytes(status.used, 8))] : []),
    encodeTlv(t.counter, uintBytes(status.counter, 4)),
    encodeTlv(t.seq, uintBytes(status.seq, 4)),
    encodeTlv(t.logLength, uintBytes(status.logLength, 2)),
    encodeTlv(t.logCapacity, uintBytes(status.logCapacity, 2)),
    encodeTlv(t.pinTries, Uint8Array.of(status.pinTriesLeft)),
    encodeTlv(t.pinVerified, Uint8Array.of(status.pinVerified ? 1 : 0)),
  );
}

export function decodeStatus(bytes: Uint8Array): CardStatus {
  const fields = new Map(decodeTlvs(bytes).map(({ tag, value }) => [tag, value]));
  const need = (tag: number): Uint8Array => {
    const value = fields.get(tag);
    if (!value) throw new TlvError(`card status: tag ${tag.toString(16)} missing`);
    return value;
  };
  const str = (tag: number): string => Buffer.from(need(tag)).toString("utf8");
  const num = (tag: number): number => readUint(need(tag));
  const opt = (tag: number): number | undefined => (fields.has(tag) ? num(tag) : undefined);
  const card = str(StatusTags.card);
  const user = str(StatusTags.user);
  const issuer = str(StatusTags.issuer);
  const currency = str(StatusTags.currency);
  if (!isPartyId(card, "card") || !isPartyId(user, "user") || !isPartyId(issuer, "server") || !isCurrencyCode(currency)) {
    throw new TlvError("card status: malformed identity or currency");
  }
  const modeByte = num(StatusTags.mode);
  if (modeByte !== 1 && modeByte !== 2) throw new TlvError("card status: unknown mode");
  const balance = opt(StatusTags.balance);
  const ceiling = opt(StatusTags.ceiling);
  const used = opt(StatusTags.used);
  return {
    card,
    user,
    issuer,
    mode: modeByte === 1 ? "prepaid" : "postpaid",
    currency,
    ...(balance !== undefined && { balance }),
    ...(ceiling !== undefined && { ceiling }),
    ...(used !== undefined && { used }),
    counter: num(StatusTags.counter),
    seq: num(StatusTags.seq),
    logLength: num(StatusTags.logLength),
    logCapacity: num(StatusTags.logCapacity),
    pinTriesLeft: num(StatusTags.pinTries),
    pinVerified: num(StatusTags.pinVerified) === 1,
  };
}

/** The FCI returned by SELECT (§5.3.3): '6F' { '84' DF name, 'A5' { '80' command set version } }. */
export function encodeFci(): Uint8Array {
  return encodeTlv(0x6f, concatTlv(encodeTlv(0x84, PEAGE_AID), encodeTlv(0xa5, encodeTlv(0x80, Uint8Array.of(1)))));
}
