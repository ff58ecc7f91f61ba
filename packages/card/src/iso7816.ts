/**
 * The ISO/IEC 7816-4 layer of the Péage card: short command and response APDUs, the class and
 * instruction bytes the card answers, and its status words. Clause numbers are those of
 * ISO/IEC 7816-4:2005; the 2013 edition moved the status bytes to §5.6 and chaining to §5.3.
 * docs/card.md is the prose of this file.
 */
import { PeageError } from "@peage/protocol";
import type { CardErrorCode, CardRefusalCode } from "./errors.js";

/**
 * The card application's identifier (§8.2.1.2, ISO/IEC 7816-5): first half-byte 'F' is the
 * "proprietary" category, an AID nobody registers, followed by "PEAGE" in ASCII and the version
 * of the command set, 01.
 */
export const PEAGE_AID = Uint8Array.from([0xf0, 0x50, 0x45, 0x41, 0x47, 0x45, 0x01]);

/** Class bytes (§5.1.1): interindustry 00, proprietary 80; b5 (0x10) marks "more to come" (§5.1.1.1). */
export const Cla = {
  interindustry: 0x00,
  proprietary: 0x80,
  chaining: 0x10,
  /** b4-b3: secure messaging; b2-b1: logical channel. The card supports neither. */
  secureMessaging: 0x0c,
  channel: 0x03,
} as const;

/** Instruction bytes: ISO ones under CLA 00, the Péage ones under CLA 80. */
export const Ins = {
  /** §7.1.1, P1 04 (by DF name). */
  select: 0xa4,
  /** §7.5.6, P2 81 (the application's PIN). */
  verify: 0x20,
  /** §7.4.2, P1-P2 a tag. */
  getData: 0xca,
  /** §7.6.1. */
  getResponse: 0xc0,
  /** Péage: message 2 in, message 3 out (claims 3-7). */
  pay: 0x50,
  /** Péage: one entry of the usage log, P1-P2 its index. */
  readLog: 0x52,
  /** Péage: the card signs its counter and log extent over the server's challenge. */
  logHead: 0x54,
  /** Péage: a reload signed by the issuing payment server (claim 8). */
  reload: 0x56,
  /** Péage: the issuing server's acknowledgment of an uploaded log (claim 10). */
  sync: 0x58,
} as const;

/** P2 of VERIFY: specific reference data (b8 = 1) number 1, the application PIN (§7.5.6, Table 65). */
export const PIN_REFERENCE = 0x81;

/** GET DATA tags (P1-P2): private class (b8-b7 = 11), so they mean what docs/card.md says. */
export const DataTags = {
  status: 0xdf01,
  certificateChain: 0xdf02,
} as const;

/** Status words (§5.1.3, Tables 5 and 6). Every one the card returns is an ISO one. */
export const SW = {
  OK: 0x9000,
  /** 61XX: XX more bytes (00: 256 or more) to fetch with GET RESPONSE. */
  MORE_DATA: 0x6100,
  /** 63CX: verification failed, X tries left. */
  WRONG_PIN: 0x63c0,
  MEMORY_FAILURE: 0x6581,
  WRONG_LENGTH: 0x6700,
  CHANNEL_NOT_SUPPORTED: 0x6881,
  SECURE_MESSAGING_NOT_SUPPORTED: 0x6882,
  LAST_COMMAND_EXPECTED: 0x6883,
  CHAINING_NOT_SUPPORTED: 0x6884,
  SECURITY_STATUS_NOT_SATISFIED: 0x6982,
  AUTHENTICATION_BLOCKED: 0x6983,
  CONDITIONS_NOT_SATISFIED: 0x6985,
  WRONG_DATA: 0x6a80,
  NOT_FOUND: 0x6a82,
  RECORD_NOT_FOUND: 0x6a83,
  NOT_ENOUGH_MEMORY: 0x6a84,
  WRONG_P1P2: 0x6a86,
  DATA_NOT_FOUND: 0x6a88,
  INS_NOT_SUPPORTED: 0x6d00,
  CLA_NOT_SUPPORTED: 0x6e00,
  NO_DIAGNOSIS: 0x6f00,
} as const;

const swNames = new Map<number, string>(Object.entries(SW).map(([name, value]) => [value, name]));

/** A status word for people: "6982 SECURITY_STATUS_NOT_SATISFIED", "63C2 WRONG_PIN (2 tries left)". */
export function describeSw(sw: number): string {
  const hex = sw.toString(16).toUpperCase().padStart(4, "0");
  if ((sw & 0xff00) === SW.MORE_DATA) return `${hex} MORE_DATA`;
  if ((sw & 0xfff0) === SW.WRONG_PIN) return `${hex} WRONG_PIN (${sw & 0x0f} tries left)`;
  return `${hex} ${swNames.get(sw) ?? "UNKNOWN"}`;
}

/** A command APDU (§5.1): short (at most 255 data bytes, 256 expected) or extended. */
export interface CommandApdu {
  readonly cla: number;
  readonly ins: number;
  readonly p1: number;
  readonly p2: number;
  readonly data: Uint8Array;
  /** Ne, the most response bytes expected: 0 when there is no Le field, 256 for a short Le = 00, 65536 for an extended 0000. */
  readonly ne: number;
}

export const MAX_SHORT_NC = 255;
export const MAX_SHORT_NE = 256;
export const MAX_EXTENDED_NC = 65535;
export const MAX_EXTENDED_NE = 65536;

export type ParsedCommand = { readonly ok: true; readonly command: CommandApdu } | { readonly ok: false; readonly sw: number };

/**
 * Parses a command APDU (§5.1, cases 1, 2S, 3S, 4S, 2E, 3E, 4E). Terminals keep to short APDUs
 * with chaining for long data, which every reader carries; extended lengths are accepted too, for
 * readers that have them, since they save a round trip per 255 bytes.
 */
export function parseCommand(bytes: Uint8Array): ParsedCommand {
  if (bytes.length < 4) return { ok: false, sw: SW.WRONG_LENGTH };
  const [cla, ins, p1, p2] = [bytes[0]!, bytes[1]!, bytes[2]!, bytes[3]!];
  const header = { cla, ins, p1, p2 };
  if (bytes.length === 4) return { ok: true, command: { ...header, data: new Uint8Array(0), ne: 0 } };
  const b5 = bytes[4]!;
  if (bytes.length === 5) return { ok: true, command: { ...header, data: new Uint8Array(0), ne: b5 === 0 ? 256 : b5 } };
  if (b5 === 0) return parseExtended(bytes, header);
  const data = bytes.slice(5, 5 + b5);
  if (bytes.length === 5 + b5) return { ok: true, command: { ...header, data, ne: 0 } };
  if (bytes.length === 6 + b5) {
    const le = bytes[5 + b5]!;
    return { ok: true, command: { ...header, data, ne: le === 0 ? 256 : le } };
  }
  return { ok: false, sw: SW.WRONG_LENGTH };
}

/** Extended length fields (§5.1): B5 = 00, then a two-byte Lc and/or a two-byte Le. */
function parseExtended(bytes: Uint8Array, header: Pick<CommandApdu, "cla" | "ins" | "p1" | "p2">): ParsedCommand {
  if (bytes.length < 7) return { ok: false, sw: SW.WRONG_LENGTH };
  const n = (bytes[5]! << 8) | bytes[6]!;
  if (bytes.length === 7) return { ok: true, command: { ...header, data: new Uint8Array(0), ne: n === 0 ? 65536 : n } };
  if (n === 0) return { ok: false, sw: SW.WRONG_LENGTH };
  const data = bytes.slice(7, 7 + n);
  if (bytes.length === 7 + n) return { ok: true, command: { ...header, data, ne: 0 } };
  if (bytes.length === 9 + n) {
    const le = (bytes[7 + n]! << 8) | bytes[8 + n]!;
    return { ok: true, command: { ...header, data, ne: le === 0 ? 65536 : le } };
  }
  return { ok: false, sw: SW.WRONG_LENGTH };
}

/** Encodes a command: short when Nc ≤ 255 and Ne ≤ 256, extended otherwise (§5.1). */
export function encodeCommand(command: CommandApdu): Uint8Array {
  const { data, ne } = command;
  if (data.length > MAX_EXTENDED_NC) throw new RangeError(`an APDU carries at most ${MAX_EXTENDED_NC} data bytes`);
  if (!(Number.isInteger(ne) && ne >= 0 && ne <= MAX_EXTENDED_NE)) throw new RangeError(`Ne must be in [0, ${MAX_EXTENDED_NE}]`);
  const out = [command.cla, command.ins, command.p1, command.p2];
  if (data.length <= MAX_SHORT_NC && ne <= MAX_SHORT_NE) {
    if (data.length > 0) out.push(data.length, ...data);
    if (ne > 0) out.push(ne === 256 ? 0 : ne);
    return Uint8Array.from(out);
  }
  out.push(0);
  if (data.length > 0) out.push(data.length >> 8, data.length & 0xff, ...data);
  if (ne > 0) out.push((ne >> 8) & 0xff, ne & 0xff);
  return Uint8Array.from(out);
}

/** A response APDU: data then SW1-SW2. */
export interface ResponseApdu {
  readonly data: Uint8Array;
  readonly sw: number;
}

export function encodeResponse(data: Uint8Array, sw: number): Uint8Array {
  const out = new Uint8Array(data.length + 2);
  out.set(data, 0);
  out[data.length] = sw >> 8;
  out[data.length + 1] = sw & 0xff;
  return out;
}

export function parseResponse(bytes: Uint8Array): ResponseApdu {
  if (bytes.length < 2) throw new CardProtocolError(`a response APDU has at least SW1-SW2; got ${bytes.length} byte(s)`);
  return { data: bytes.slice(0, -2), sw: (bytes[bytes.length - 2]! << 8) | bytes[bytes.length - 1]! };
}

/** The transport or the card broke the APDU rules (not a refusal: see CardError). */
export class CardProtocolError extends PeageError<CardErrorCode> {
  override readonly name = "CardProtocolError";
  constructor(message: string, options?: { readonly cause?: unknown }) {
    super("ERR_CARD_PROTOCOL", message, options);
  }
}

const refusalCodes: ReadonlyMap<number, CardRefusalCode> = new Map([
  [SW.AUTHENTICATION_BLOCKED, "ERR_CARD_PIN_BLOCKED"],
  [SW.SECURITY_STATUS_NOT_SATISFIED, "ERR_CARD_PIN_REQUIRED"],
  [SW.CONDITIONS_NOT_SATISFIED, "ERR_CARD_CONDITIONS"],
  [SW.NOT_ENOUGH_MEMORY, "ERR_CARD_LOG_FULL"],
  [SW.WRONG_DATA, "ERR_CARD_WRONG_DATA"],
  [SW.NOT_FOUND, "ERR_CARD_NOT_FOUND"],
  [SW.RECORD_NOT_FOUND, "ERR_CARD_NOT_FOUND"],
  [SW.DATA_NOT_FOUND, "ERR_CARD_NOT_FOUND"],
  [SW.MEMORY_FAILURE, "ERR_CARD_MEMORY_FAILURE"],
  [SW.WRONG_LENGTH, "ERR_CARD_UNSUPPORTED"],
  [SW.WRONG_P1P2, "ERR_CARD_UNSUPPORTED"],
  [SW.CHANNEL_NOT_SUPPORTED, "ERR_CARD_UNSUPPORTED"],
  [SW.SECURE_MESSAGING_NOT_SUPPORTED, "ERR_CARD_UNSUPPORTED"],
  [SW.LAST_COMMAND_EXPECTED, "ERR_CARD_UNSUPPORTED"],
  [SW.CHAINING_NOT_SUPPORTED, "ERR_CARD_UNSUPPORTED"],
  [SW.INS_NOT_SUPPORTED, "ERR_CARD_UNSUPPORTED"],
  [SW.CLA_NOT_SUPPORTED, "ERR_CARD_UNSUPPORTED"],
]);

/** The code of a refusal's status word (docs/card.md, "Status words"). */
export function refusalCodeOf(sw: number): CardRefusalCode {
  if ((sw & 0xfff0) === SW.WRONG_PIN) return "ERR_CARD_WRONG_PIN";
  return refusalCodes.get(sw) ?? "ERR_CARD_REFUSED";
}

/** The card refused a command: its status word says why, and `code` is that status word's meaning. */
export class CardError extends PeageError<CardRefusalCode> {
  override readonly name = "CardError";
  constructor(
    readonly sw: number,
    readonly command: string,
  ) {
    super(refusalCodeOf(sw), `${command}: the card answered ${describeSw(sw)}`);
  }

  /** For 63CX: the tries left; otherwise undefined. */
  get triesLeft(): number | undefined {
    return (this.sw & 0xfff0) === SW.WRONG_PIN ? this.sw & 0x0f : undefined;
  }
}

/**
 * The answer to reset (ISO/IEC 7816-3 §8.2): TS 3B (direct convention); T0 with TD1 present and
 * 9 historical bytes; TD1 80 (T=0, TD2 follows); TD2 01 (T=1); the historical bytes (ISO/IEC
 * 7816-4 §8.1.1) category 80 then the compact-TLV application identifier 'F7' + AID; TCK makes the
 * XOR of T0..TCK zero, as required when T=1 is offered.
 */
export const PEAGE_ATR: Uint8Array = (() => {
  const historical = [0x80, 0xf0 | PEAGE_AID.length, ...PEAGE_AID];
  const body = [0x80 | historical.length, 0x80, 0x01, ...historical];
  const tck = body.reduce((x, b) => x ^ b, 0);
  return Uint8Array.from([0x3b, ...body, tck]);
})();

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex").toUpperCase();
}

export function fromHex(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, "");
  if (!/^([0-9a-fA-F]{2})*$/.test(clean)) throw new TypeError(`not hexadecimal: ${JSON.stringify(text)}`);
  return Uint8Array.from(Buffer.from(clean, "hex"));
}
