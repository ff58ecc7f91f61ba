/**
 * A minimal DER reader and writer: just enough to check what @peculiar/x509 does not
 * (a certificate is exactly one DER value, with no trailing bytes; the two signature algorithm
 * fields agree) and to encode the one CRL extension the library has no class for (cRLNumber).
 * X.690 §8.1 (identifier and length octets) and §10.1 (DER uses the definite, shortest length form).
 */

export interface Tlv {
  readonly tag: number;
  /** Offset of the identifier octet. */
  readonly start: number;
  /** Offset of the first content octet. */
  readonly contentStart: number;
  /** Offset just past the last content octet. */
  readonly end: number;
}

export const TAG_INTEGER = 0x02;
export const TAG_SEQUENCE = 0x30;

/** Reads the TLV at `offset`; throws RangeError on anything that is not DER (long tags, indefinite or non-minimal lengths, overruns). */
export function readTlv(bytes: Uint8Array, offset: number): Tlv {
  const tag = bytes[offset];
  if (tag === undefined) throw new RangeError("unexpected end of DER input");
  if ((tag & 0x1f) === 0x1f) throw new RangeError("high-tag-number form is not used in X.509");
  let cursor = offset + 1;
  const first = bytes[cursor++];
  if (first === undefined) throw new RangeError("unexpected end of DER input");
  let length = first;
  if (first & 0x80) {
    const count = first & 0x7f;
    // 0x80 is the BER indefinite form, forbidden in DER (X.690 §10.1); 4 octets already allow 4 GiB.
    if (count === 0 || count > 4) throw new RangeError("indefinite or oversized DER length");
    length = 0;
    for (let i = 0; i < count; i++) {
      const octet = bytes[cursor++];
      if (octet === undefined) throw new RangeError("unexpected end of DER input");
      if (i === 0 && octet === 0) throw new RangeError("non-minimal DER length");
      length = length * 256 + octet;
    }
    if (length < 0x80) throw new RangeError("non-minimal DER length");
  }
  const end = cursor + length;
  if (end > bytes.length) throw new RangeError("DER value runs past the end of the input");
  return { tag, start: offset, contentStart: cursor, end };
}

/** The TLVs directly inside a constructed value. */
export function children(bytes: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let offset = parent.contentStart; offset < parent.end;) {
    const child = readTlv(bytes, offset);
    if (child.end > parent.end) throw new RangeError("DER child runs past its parent");
    out.push(child);
    offset = child.end;
  }
  return out;
}

/** The input must be exactly one SEQUENCE: certificates and CRLs carry no trailing data. */
export function singleSequence(bytes: Uint8Array): Tlv {
  const outer = readTlv(bytes, 0);
  if (outer.tag !== TAG_SEQUENCE) throw new RangeError("not a DER SEQUENCE");
  if (outer.end !== bytes.length) throw new RangeError(`${bytes.length - outer.end} trailing bytes after the DER value`);
  return outer;
}

export function slice(bytes: Uint8Array, tlv: Tlv): Uint8Array {
  return bytes.subarray(tlv.start, tlv.end);
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}

/**
 * RFC 5280 §4.1.1.2: `signatureAlgorithm` MUST be identical to `tbsCertificate.signature`
 * (and §5.1.1.2 likewise for CRLs). Returns false when they differ; throws on malformed input.
 */
export function signatureAlgorithmsAgree(der: Uint8Array): boolean {
  const outer = singleSequence(der);
  const [tbs, outerAlg] = children(der, outer);
  if (!tbs || !outerAlg || tbs.tag !== TAG_SEQUENCE) throw new RangeError("not a signed X.509 structure");
  const fields = children(der, tbs);
  // TBSCertificate opens with an optional [0] version, then serialNumber, then signature;
  // TBSCertList opens with an optional version INTEGER, then signature.
  const innerAlg = fields.find((field) => field.tag === TAG_SEQUENCE);
  if (!innerAlg) throw new RangeError("no signature algorithm in the signed part");
  return equalBytes(slice(der, innerAlg), slice(der, outerAlg));
}

const TAG_BIT_STRING = 0x03;

/** The signature algorithm and the signatureValue BIT STRING of a signed X.509 structure; throws when it has neither. */
function signatureParts(der: Uint8Array): { algorithm: Tlv; signature: Tlv } {
  const outer = singleSequence(der);
  const [, algorithm, signature] = children(der, outer);
  if (!algorithm || !signature || signature.tag !== TAG_BIT_STRING) throw new RangeError("no signature BIT STRING");
  return { algorithm, signature };
}

/**
 * The signatureValue BIT STRING (RFC 5280 §4.1.1.3) holds whole octets, so its "unused bits"
 * octet must be 0 (X.690 §8.6.2.2, §11.2.1). A library that ignores it would accept seven other
 * spellings of the same certificate; the bytes of a trusted certificate must be the only ones.
 */
export function signatureBitStringIsCanonical(der: Uint8Array): boolean {
  const { signature } = signatureParts(der);
  return signature.end - signature.contentStart > 1 && der[signature.contentStart] === 0;
}

/** Whether an ECDSA signatureValue is strict DER (see {@link isStrictEcdsaValue}); true for other algorithms. */
export function ecdsaSignatureIsStrict(der: Uint8Array): boolean {
  const { algorithm, signature } = signatureParts(der);
  const algorithmOid = children(der, algorithm)[0];
  const isEcdsa =
    algorithmOid?.tag === TAG_OBJECT_IDENTIFIER &&
    decodeOid(der.subarray(algorithmOid.contentStart, algorithmOid.end)).startsWith(ECDSA_OID_PREFIX);
  return !isEcdsa || isStrictEcdsaValue(der.subarray(signature.contentStart + 1, signature.end));
}

/** ecdsa-with-SHA2 (RFC 5758 §3.2): 1.2.840.10045.4.3.x. */
const ECDSA_OID_PREFIX = "1.2.840.10045.4.3.";

/**
 * An ECDSA signature value is DER `SEQUENCE { r INTEGER, s INTEGER }` (RFC 5480 §2.2.3 via
 * RFC 5758 §3.2) with both integers positive and minimally encoded (X.690 §8.3.2). Converters
 * that keep only the low 32 octets of each integer would otherwise accept a padding octet of any
 * value, and with it other spellings of a signed certificate.
 */
function isStrictEcdsaValue(value: Uint8Array): boolean {
  try {
    const sequence = singleSequence(value);
    const integers = children(value, sequence);
    return (
      integers.length === 2 &&
      integers.every(
        (integer) => integer.tag === TAG_INTEGER && isMinimalPositive(value.subarray(integer.contentStart, integer.end)),
      )
    );
  } catch {
    return false;
  }
}

/**
 * Positive, minimal, and below 2^256 (Péage's only ECDSA curve is P-256, whose r and s are less
 * than its 256-bit order): at most 32 significant octets, plus a 0x00 only when the next octet's
 * top bit is set.
 */
function isMinimalPositive(content: Uint8Array): boolean {
  const first = content[0];
  if (first === undefined || first & 0x80) return false;
  if (first === 0) return content.length > 1 && content.length <= 33 && ((content[1] ?? 0) & 0x80) !== 0;
  return content.length <= 32;
}

/** DER INTEGER content octets of a non-negative value (X.690 §8.3: two's complement, minimal). */
export function integerContent(value: bigint): Uint8Array<ArrayBuffer> {
  if (value < 0n) throw new RangeError("negative INTEGER");
  let hex = value.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  if (Number.parseInt(hex.slice(0, 2), 16) >= 0x80) hex = `00${hex}`;
  return Uint8Array.from(Buffer.from(hex, "hex"));
}

export function encodeInteger(value: bigint): Uint8Array<ArrayBuffer> {
  const content = integerContent(value);
  return Uint8Array.from([TAG_INTEGER, ...encodeLength(content.length), ...content]);
}

function encodeLength(length: number): number[] {
  if (length < 0x80) return [length];
  const octets: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) octets.unshift(rest % 256);
  return [0x80 | octets.length, ...octets];
}

/** Decodes a DER INTEGER that must be non-negative; throws RangeError otherwise. */
export function decodeNonNegativeInteger(bytes: Uint8Array): bigint {
  const tlv = readTlv(bytes, 0);
  if (tlv.tag !== TAG_INTEGER || tlv.end !== bytes.length || tlv.end === tlv.contentStart)
    throw new RangeError("not a DER INTEGER");
  const content = bytes.subarray(tlv.contentStart, tlv.end);
  if ((content[0] ?? 0) & 0x80) throw new RangeError("negative INTEGER");
  return BigInt(`0x${Buffer.from(content).toString("hex")}`);
}

export const TAG_OBJECT_IDENTIFIER = 0x06;

/**
 * Dotted form of an OBJECT IDENTIFIER's content octets (X.690 §8.19), with arbitrary-size arcs:
 * the Péage arc under 2.25 is a 128-bit UUID, which the ASN.1 library does not decode faithfully.
 */
export function decodeOid(content: Uint8Array): string {
  const arcs: bigint[] = [];
  let value = 0n;
  let fresh = true;
  for (const octet of content) {
    // §8.19.2: a sub-identifier is encoded in the fewest octets; a leading 0x80 is padding.
    if (fresh && octet === 0x80) throw new RangeError("non-minimal OBJECT IDENTIFIER sub-identifier");
    value = (value << 7n) | BigInt(octet & 0x7f);
    fresh = (octet & 0x80) === 0;
    if (fresh) {
      arcs.push(value);
      value = 0n;
    }
  }
  const first = arcs.shift();
  if (first === undefined || !fresh) throw new RangeError("truncated OBJECT IDENTIFIER");
  // §8.19.4: the first sub-identifier packs the first two arcs as X * 40 + Y, X in 0..2.
  const head = first < 40n ? [0n, first] : first < 80n ? [1n, first - 40n] : [2n, first - 80n];
  return [...head, ...arcs].join(".");
}

/** The OIDs of an extKeyUsage extension value: SEQUENCE SIZE (1..MAX) OF KeyPurposeId (RFC 5280 §4.2.1.12). */
export function decodeOidSequence(bytes: Uint8Array): string[] {
  const outer = singleSequence(bytes);
  const oids = children(bytes, outer).map((child) => {
    if (child.tag !== TAG_OBJECT_IDENTIFIER) throw new RangeError("not an OBJECT IDENTIFIER");
    return decodeOid(bytes.subarray(child.contentStart, child.end));
  });
  if (oids.length === 0) throw new RangeError("empty extKeyUsage");
  return oids;
}
