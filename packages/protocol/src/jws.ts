/**
 * JWS Compact Serialization (RFC 7515 §7.1) as Péage uses it: the payload is the RFC 8785
 * canonical JSON of the claims, the protected header names the algorithm (ES256 or EdDSA only),
 * the message kind (`typ`, RFC 7515 §4.1.9) and the signer: `x5c` (§4.1.6, a certificate chain)
 * for publishers, payment servers and cards, `kid` (an RFC 7638 JWK thumbprint) for users.
 *
 * Decoding is strict: an unknown or repeated header parameter, `crit`, `alg: none`, a
 * non-canonical payload or a token over the size limit is refused before any key is looked up.
 *
 * Signatures are made and checked with node:crypto (OpenSSL) directly and synchronously: on the
 * payment path a check must cost about one signature verification, and going through WebCrypto's
 * thread pool doubled that. The JWS framing is this file; the test suite checks it against an
 * independent implementation (jose) in both directions.
 */
import { sign as cryptoSign, verify as cryptoVerify } from "node:crypto";
import { canonicalBytes, canonicalJson } from "./canonical.js";
import { fail, ok, type Result } from "./errors.js";
import {
  algorithmOfKey as algorithmOfKeyObject,
  isExternalKey,
  isSignatureAlgorithm,
  keyObjectOf,
  type SignatureAlgorithm,
  type SigningKey,
} from "./keys.js";
import { tryParseStrictJson } from "./strict-json.js";

/** The `typ` of each signed Péage object. */
export const JwsTypes = {
  offerSignature: "peage-offer+jws",
  consent: "peage-consent+jws",
  acknowledgment: "peage-ack+jws",
  /** A request a user signs to read their own records at the payment server. */
  userRequest: "peage-user-request+jws",
  /** Version 2: a spending mandate the user gives an agent (messages/mandate.ts). */
  mandate: "peage-mandate+jws",
  /** Version 2: an agent's consent to one payment under a mandate. */
  agentConsent: "peage-agent-consent+jws",
} as const;
export type JwsType = (typeof JwsTypes)[keyof typeof JwsTypes];

/** Upper bound on a token: a chain of five certificates and a payload fit well within it. */
export const MAX_JWS_LENGTH = 24 * 1024;

/** The kinds of signature whose signer is named by a certificate chain (`x5c`); the others name an enrolled key (`kid`). */
type ChainSignedType = typeof JwsTypes.offerSignature | typeof JwsTypes.acknowledgment;

/** How a signature of kind `T` names its signer (docs/protocol.md §4.1): `x5c` or `kid`, never both. */
export type JwsSigner<T extends JwsType> = T extends ChainSignedType
  ? { readonly x5c: readonly string[]; readonly kid?: undefined }
  : { readonly kid: string; readonly x5c?: undefined };

export type JwsHeader<T extends JwsType = JwsType> = { readonly alg: SignatureAlgorithm; readonly typ: T } & JwsSigner<T>;

export interface DecodedJws<T extends JwsType = JwsType> {
  readonly header: JwsHeader<T>;
  /** The payload, parsed but NOT yet verified: use it only to find the key. */
  readonly payload: unknown;
}

const signerParameter = (typ: JwsType): "x5c" | "kid" =>
  typ === JwsTypes.offerSignature || typ === JwsTypes.acknowledgment ? "x5c" : "kid";

const allowedHeaderParameters = new Set(["alg", "typ", "x5c", "kid"]);
const base64urlSegment = /^[A-Za-z0-9_-]*$/;
const base64Der = /^[A-Za-z0-9+/]+={0,2}$/;

export async function signJws(
  typ: JwsType,
  claims: unknown,
  key: SigningKey,
  signer: { x5c: readonly string[] } | { kid: string },
): Promise<string> {
  const signingInput = jwsSigningInput(typ, claims, key.alg, signer);
  const data = Buffer.from(signingInput, "ascii");
  const signature = isExternalKey(key)
    ? await key.sign(data)
    : cryptoSign(digestOf(key.alg), data, signingKey(key.alg, key.privateKey));
  if (key.alg === "ES256" && signature.length !== 64)
    throw new TypeError(`an ES256 signature is 64 bytes (r || s), the signer returned ${signature.length}`);
  return `${signingInput}.${Buffer.from(signature).toString("base64url")}`;
}

/** A key that signs elsewhere (a TPM): the signature over `data`, IEEE P1363 r || s for ES256. */
export interface ExternalSigner {
  readonly alg: SignatureAlgorithm;
  sign(data: Uint8Array): Promise<Uint8Array>;
}

/** {@link signJws} with a key that never comes into this process (a PC store's key in its TPM). */
export async function signJwsExternally(
  typ: JwsType,
  claims: unknown,
  key: ExternalSigner,
  signer: { x5c: readonly string[] } | { kid: string },
): Promise<string> {
  const signingInput = jwsSigningInput(typ, claims, key.alg, signer);
  const signature = await key.sign(new Uint8Array(Buffer.from(signingInput, "ascii")));
  return `${signingInput}.${base64url(signature)}`;
}

function jwsSigningInput(
  typ: JwsType,
  claims: unknown,
  alg: SignatureAlgorithm,
  signer: { x5c: readonly string[] } | { kid: string },
): string {
  return `${encodedHeader(alg, typ, signer)}.${base64url(canonicalJson(claims))}`;
}

/** A protected header naming its signer by a certificate chain, encoded for that chain's signer. */
interface EncodedChainHeader {
  readonly alg: SignatureAlgorithm;
  readonly typ: JwsType;
  /** The chain as it was when encoded, to see that the signer's array still holds it. */
  readonly x5c: readonly string[];
  readonly encoded: string;
}

/**
 * The last protected header encoded for each certificate chain (the array a signer passes): a
 * server sends the same header, kilobytes of certificates, with every acknowledgment, so it is
 * written and encoded once. Used only while the array still holds the same certificates.
 */
const chainHeaders = new WeakMap<readonly string[], EncodedChainHeader>();

function encodedHeader(alg: SignatureAlgorithm, typ: JwsType, signer: { x5c: readonly string[] } | { kid: string }): string {
  if (!("x5c" in signer)) return base64url(JSON.stringify({ alg, typ, kid: signer.kid }));
  const known = chainHeaders.get(signer.x5c);
  const same = known?.alg === alg && known.typ === typ && sameEntries(known.x5c, signer.x5c);
  if (known && same) return known.encoded;
  const x5c = [...signer.x5c];
  const encoded = base64url(JSON.stringify({ alg, typ, x5c }));
  chainHeaders.set(signer.x5c, { alg, typ, x5c, encoded });
  return encoded;
}

function sameEntries(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((entry, i) => entry === b[i]);
}

/**
 * Tokens decoded lately, by their exact text, frozen: the payment path reads the same
 * token several times (the consent for its nonce, then for its check, then for the metrics; the
 * publisher's signature of an offer for every payment of that offer), and decoding is a pure
 * function of the text, so a repeat costs a lookup instead of parsing and RFC 8785 checks again.
 * Bounded (two generations, below). Only tokens that decoded are kept.
 */
let decodedTokens = new Map<string, DecodedJws>();
let olderDecodedTokens = new Map<string, DecodedJws>();
/**
 * Two generations of this many tokens: when the newer is full it becomes the older and the older
 * is dropped. No entry is ever deleted alone, which would cost Map a walk over the holes it leaves.
 */
const DECODED_TOKENS_PER_GENERATION = 512;

/** The decoding kept for a token; found in the older generation, it moves to the newer one. */
function knownDecoding(token: string): DecodedJws | undefined {
  const recent = decodedTokens.get(token);
  if (recent !== undefined) return recent;
  const older = olderDecodedTokens.get(token);
  if (older !== undefined) rememberDecoding(token, older);
  return older;
}

function rememberDecoding(token: string, decoded: DecodedJws): void {
  if (decodedTokens.size >= DECODED_TOKENS_PER_GENERATION) {
    olderDecodedTokens = decodedTokens;
    decodedTokens = new Map();
  }
  decodedTokens.set(token, decoded);
}

/** Splits and parses a token without checking its signature. */
export function decodeJws<T extends JwsType>(token: unknown, typ: T): Result<DecodedJws<T>> {
  if (typeof token !== "string") return fail("ERR_MALFORMED", "a JWS must be a string");
  // A token decodes under the one type its header names: asked for another, it is decoded again and refused.
  const known = knownDecoding(token);
  // The check on typ makes the cast exact: the entry was decoded under this very type.
  if (known && known.header.typ === typ) return ok(known as DecodedJws<T>);
  const decoded = decodeJwsText(token, typ);
  if (decoded.ok && !known) rememberDecoding(token, deepFreeze(decoded.value));
  return decoded;
}

/** Freezes a parsed JSON value and everything in it, so that a token's cached decoding is shared read-only. */
function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const item of Object.values(value)) deepFreeze(item);
  }
  return value;
}

function decodeJwsText<T extends JwsType>(token: string, typ: T): Result<DecodedJws<T>> {
  if (token.length > MAX_JWS_LENGTH) return fail("ERR_MALFORMED", `JWS longer than ${MAX_JWS_LENGTH} characters`);
  const parts = token.split(".");
  // Each part decoded once; a canonical part that is not empty decodes to at least one byte.
  const bytes = parts.length === 3 ? parts.map(canonicalBase64url) : [];
  if (bytes.length !== 3 || !bytes.every((part) => part !== undefined && part.length > 0)) {
    return fail("ERR_MALFORMED", "a JWS in compact serialization has three non-empty, canonically encoded base64url parts");
  }
  const header = tryParseStrictJson(bytes[0]!.toString("utf8"));
  const payloadBytes = bytes[1]!;
  const { payload, canonical } = parsePayload(payloadBytes);
  if (!isPlainObject(header))
    return fail("ERR_MALFORMED", "JWS protected header is not a JSON object without repeated member names");
  if (payload === undefined) return fail("ERR_MALFORMED", "JWS payload is not JSON");

  for (const name of Object.keys(header)) {
    if (!allowedHeaderParameters.has(name)) {
      return fail("ERR_MALFORMED", `JWS header parameter "${name}" is not allowed in a Péage message`, { parameter: name });
    }
  }
  if (!isSignatureAlgorithm(header["alg"])) {
    return fail(
      "ERR_UNSUPPORTED_ALGORITHM",
      `JWS algorithm ${JSON.stringify(header["alg"])} is not accepted: use ES256 or EdDSA`,
      {
        alg: header["alg"],
      },
    );
  }
  if (header["typ"] !== typ) {
    return fail("ERR_MALFORMED", `expected a JWS of type ${typ}, got ${JSON.stringify(header["typ"])}`, { typ: header["typ"] });
  }
  const x5c = header["x5c"];
  if (
    x5c !== undefined &&
    !(Array.isArray(x5c) && x5c.length > 0 && x5c.every((c) => typeof c === "string" && base64Der.test(c)))
  ) {
    return fail("ERR_MALFORMED", "JWS x5c must be a non-empty array of base64 DER certificates");
  }
  const kid = header["kid"];
  if (kid !== undefined && !(typeof kid === "string" && /^[A-Za-z0-9_-]{43}$/.test(kid))) {
    return fail("ERR_MALFORMED", "JWS kid must be an RFC 7638 SHA-256 JWK thumbprint");
  }
  // One way to name the signer, the one its kind uses: with both, two verifiers could pick different keys.
  const signer = signerParameter(typ);
  if (header[signer] === undefined || (signer === "x5c" ? kid : x5c) !== undefined) {
    return fail("ERR_MALFORMED", `a JWS of type ${typ} names its signer by ${signer}, and only by ${signer}`);
  }
  // The signer committed to canonical bytes; anything else (duplicate keys, other spacing or
  // number spelling) could be read differently by another parser, so it is refused.
  if (!canonical) {
    return fail("ERR_MALFORMED", "JWS payload is not RFC 8785 canonical JSON");
  }
  return ok({ header: header as unknown as JwsHeader<T>, payload });
}

/** Checks the signature of a token already decoded by {@link decodeJws}, with the signer's key. */
export async function verifyJwsSignature(token: string, alg: SignatureAlgorithm, key: CryptoKey): Promise<Result<true>> {
  return verifyJwsSignatureSync(token, alg, key);
}

/**
 * The synchronous form of {@link verifyJwsSignature}. `alg` is the signer's key algorithm: a
 * header naming another one is refused (RFC 7515 §10.7, algorithm substitution), and so is a key
 * of another type.
 */
export function verifyJwsSignatureSync(token: string, alg: SignatureAlgorithm, key: CryptoKey): Result<true> {
  const lastDot = token.lastIndexOf(".");
  const headerAlg = jwsAlgorithm(token);
  const object = keyObjectOf(key);
  const keyAlg = algorithmOfKeyObject(object);
  // One rule: the header, the caller and the key itself all name the key's algorithm.
  if (headerAlg !== alg || keyAlg !== alg) {
    return fail(
      "ERR_UNSUPPORTED_ALGORITHM",
      `the JWS algorithm ${JSON.stringify(headerAlg)} does not match the signer's ${keyAlg ?? "unsupported"} key`,
    );
  }
  const signature = Buffer.from(token.slice(lastDot + 1), "base64url");
  // Both algorithms have fixed-size signatures: ES256 is R || S, 32 bytes each (RFC 7518 §3.4); Ed25519 is 64 bytes (RFC 8032 §5.1.6).
  const valid =
    lastDot > 0 &&
    signature.length === 64 &&
    cryptoVerify(
      digestOf(alg),
      Buffer.from(token.slice(0, lastDot), "ascii"),
      { key: object, dsaEncoding: "ieee-p1363" },
      signature,
    );
  return valid ? ok(true) : fail("ERR_BAD_SIGNATURE", "the JWS signature is not 64 bytes, or does not verify");
}

/**
 * The payload as strict JSON (undefined when it is not, a member named twice included), and whether
 * `bytes` are exactly its RFC 8785 form. Canonical bytes name no member twice (the canonical form of
 * what JSON.parse kept holds each name once), so only a payload that is not canonical is walked for
 * repeated names; either way the outcome is strict JSON's.
 */
function parsePayload(bytes: Buffer): { payload: unknown; canonical: boolean } {
  const text = bytes.toString("utf8");
  let payload: unknown;
  try {
    payload = JSON.parse(text) as unknown;
  } catch {
    return { payload: undefined, canonical: false };
  }
  if (isCanonicalJson(payload, bytes)) return { payload, canonical: true };
  return { payload: tryParseStrictJson(text), canonical: false };
}

/** True when `bytes` are the RFC 8785 form of `value`; false also for values JCS cannot encode (1e400 parses as Infinity). */
function isCanonicalJson(value: unknown, bytes: Buffer): boolean {
  try {
    return canonicalBytes(value).equals(bytes);
  } catch {
    return false;
  }
}

/** The `alg` a token's header names: from the decoding kept for it when there is one, else read from the header. */
function jwsAlgorithm(token: string): unknown {
  const known = knownDecoding(token);
  if (known) return known.header.alg;
  const header = tryParseStrictJson(Buffer.from(token.slice(0, token.indexOf(".")), "base64url").toString("utf8"));
  return isPlainObject(header) ? header["alg"] : undefined;
}

/** ES256 hashes with SHA-256 then signs; Ed25519 signs the message itself (PureEdDSA). */
function digestOf(alg: SignatureAlgorithm): string | null {
  return alg === "ES256" ? "sha256" : null;
}

function signingKey(alg: SignatureAlgorithm, key: CryptoKey) {
  const object = keyObjectOf(key);
  if (algorithmOfKeyObject(object) !== alg) throw new TypeError(`the signing key is not an ${alg} key`);
  return { key: object, dsaEncoding: "ieee-p1363" as const };
}

function base64url(data: string | Uint8Array): string {
  return Buffer.from(data).toString("base64url");
}

/**
 * The bytes of a part written in base64url without padding, and canonically (RFC 4648 §3.5):
 * the unused low bits of the last character are zero. Otherwise one signature would have several spellings, and a token could be
 * altered without breaking it.
 */
function canonicalBase64url(segment: string): Buffer | undefined {
  if (!base64urlSegment.test(segment)) return undefined;
  // 4 characters carry 3 bytes; a last group of 2 or 3 characters carries 1 or 2, and leaves the low
  // 4 or 2 bits of its last character unused; a last group of 1 carries nothing.
  const rest = segment.length % 4;
  if (rest === 1) return undefined;
  const unusedBits = rest === 2 ? 0b1111 : rest === 3 ? 0b11 : 0;
  if ((BASE64URL_ALPHABET.indexOf(segment[segment.length - 1]!) & unusedBits) !== 0) return undefined;
  return Buffer.from(segment, "base64url");
}

const BASE64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
