/**
 * BER-TLV data objects (ISO/IEC 7816-4:2005 §5.2.2, after ISO/IEC 8825-1) as the card uses them:
 * tags of one or two bytes, definite lengths of up to three bytes, no indefinite length. Decoding
 * is strict: any byte left over, a truncated object or a non-minimal length is an error, so a
 * data field has exactly one reading.
 */
import { PeageError } from "@peage/protocol";
import type { CardErrorCode } from "./errors.js";

export interface Tlv {
  readonly tag: number;
  readonly value: Uint8Array;
}

/** A TLV that cannot be encoded (a tag or length out of range) or decoded (truncated, malformed). */
export class TlvError extends PeageError<CardErrorCode> {
  override readonly name = "TlvError";
  constructor(message: string) {
    super("ERR_TLV", message);
  }
}

/** Largest value the card's TLVs carry: a two-byte length (82 XX XX). */
const MAX_LENGTH = 0xffff;

export function encodeTlv(tag: number, value: Uint8Array): Uint8Array {
  if (!(Number.isInteger(tag) && tag > 0 && tag <= 0xffff)) throw new TlvError(`tag ${tag} is outside one or two bytes`);
  const tagBytes = tag > 0xff ? [tag >> 8, tag & 0xff] : [tag];
  if (tag > 0xff ? ((tag >> 8) & 0x1f) !== 0x1f : (tag & 0x1f) === 0x1f)
    throw new TlvError(`tag ${tag.toString(16)} is not a valid one- or two-byte BER tag`);
  const n = value.length;
  if (n > MAX_LENGTH) throw new TlvError(`value of ${n} bytes is too long`);
  const lengthBytes = n < 0x80 ? [n] : n <= 0xff ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  const out = new Uint8Array(tagBytes.length + lengthBytes.length + n);
  out.set(tagBytes, 0);
  out.set(lengthBytes, tagBytes.length);
  out.set(value, tagBytes.length + lengthBytes.length);
  return out;
}

export function concatTlv(...objects: Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(objects));
}

export function decodeTlvs(bytes: Uint8Array): Tlv[] {
  const out: Tlv[] = [];
  let at = 0;
  const need = (n: number): void => {
    if (at + n > bytes.length) throw new TlvError("truncated data object");
  };
  while (at < bytes.length) {
    need(1);
    let tag = bytes[at++]!;
    if ((tag & 0x1f) === 0x1f) {
      need(1);
      const next = bytes[at++]!;
      // A third tag byte would follow if b8 were set; the card has no such tags.
      if (next & 0x80 || next < 0x1f) throw new TlvError("unsupported or non-minimal multi-byte tag");
      tag = (tag << 8) | next;
    }
    need(1);
    let length = bytes[at++]!;
    if (length === 0x81) {
      need(1);
      length = bytes[at++]!;
      if (length < 0x80) throw new TlvError("non-minimal length");
    } else if (length === 0x82) {
      need(2);
      length = (bytes[at]! << 8) | bytes[at + 1]!;
      at += 2;
      if (length <= 0xff) throw new TlvError("non-minimal length");
    } else if (length >= 0x80) {
      throw new TlvError("unsupported length encoding");
    }
    need(length);
    out.push({ tag, value: bytes.slice(at, at + length) });
    at += length;
  }
  return out;
}

/**
 * Decodes a data field that must hold exactly the given tags, each once, in any order;
 * returns their values by tag.
 */
export function decodeExactly(bytes: Uint8Array, tags: readonly number[]): Map<number, Uint8Array> {
  const found = new Map<number, Uint8Array>();
  for (const { tag, value } of decodeTlvs(bytes)) {
    if (!tags.includes(tag)) throw new TlvError(`unexpected tag ${tag.toString(16)}`);
    if (found.has(tag)) throw new TlvError(`tag ${tag.toString(16)} appears twice`);
    found.set(tag, value);
  }
  for (const tag of tags) if (!found.has(tag)) throw new TlvError(`missing tag ${tag.toString(16)}`);
  return found;
}

export function uintBytes(value: number, size: number): Uint8Array {
  if (!(Number.isSafeInteger(value) && value >= 0)) throw new RangeError(`${value} is not a non-negative safe integer`);
  const out = new Uint8Array(size);
  let rest = BigInt(value);
  for (let i = size - 1; i >= 0; i--) {
    out[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  if (rest !== 0n) throw new RangeError(`${value} does not fit in ${size} bytes`);
  return out;
}

export function readUint(bytes: Uint8Array): number {
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new TlvError("integer beyond 2^53 - 1");
  return Number(value);
}
