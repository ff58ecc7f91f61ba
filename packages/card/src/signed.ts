/**
 * Signed card records: the usage log entries and log heads the card signs, the reload and sync
 * commands the issuing payment server signs, and the card's receipts for them. A token is
 * `BASE64URL(body) "." BASE64URL(signature)`: the body is RFC 8785 canonical JSON whose `type`
 * says what it is (so a signature over one kind can never pass for another), the signature is
 * ES256 (IEEE P1363 r||s, RFC 7518 §3.4) or Ed25519 over exactly the body bytes.
 *
 * These are not JWS: they travel between the card and the server that issued it, nobody else
 * checks them, and the card verifies them without a JOSE library. Message 3 stays a JWS.
 */
import { webcrypto } from "node:crypto";
import { sign as cryptoSign, KeyObject } from "node:crypto";
import { canonicalBytes, type ExternalSigner, type KeyPair, type SignatureAlgorithm } from "@peage/protocol";

/** Longest token accepted: a log head or an entry is well under 1 KiB. */
export const MAX_TOKEN_LENGTH = 4096;

export interface VerificationKey {
  readonly alg: SignatureAlgorithm;
  readonly publicKey: CryptoKey;
}

export interface DecodedToken {
  /** The parsed body, not yet verified. */
  readonly body: unknown;
  readonly bodyBytes: Uint8Array;
  readonly signature: Uint8Array;
}

const segment = /^[A-Za-z0-9_-]+$/;

function params(alg: SignatureAlgorithm): EcdsaParams | Algorithm {
  return alg === "ES256" ? { name: "ECDSA", hash: "SHA-256" } : { name: "Ed25519" };
}

export async function signToken(body: object, key: KeyPair): Promise<string> {
  const bytes = canonicalBytes(body);
  const signature = new Uint8Array(await webcrypto.subtle.sign(params(key.alg), key.privateKey, bytes));
  return `${bytes.toString("base64url")}.${Buffer.from(signature).toString("base64url")}`;
}

/** The card's key as a signer: the same interface as a key held in a PC's TPM. */
export function keySigner(key: KeyPair): ExternalSigner {
  const object = KeyObject.from(key.privateKey);
  const digest = key.alg === "ES256" ? "sha256" : null;
  return {
    alg: key.alg,
    sign: async (data) => new Uint8Array(cryptoSign(digest, data, { key: object, dsaEncoding: "ieee-p1363" })),
  };
}

/** {@link signToken} with any signer (a key in memory, or in a TPM). */
export async function signTokenWith(body: object, signer: ExternalSigner): Promise<string> {
  const bytes = canonicalBytes(body);
  const signature = await signer.sign(new Uint8Array(bytes));
  return `${bytes.toString("base64url")}.${Buffer.from(signature).toString("base64url")}`;
}

/**
 * Splits a token; undefined if it is not two canonical base64url segments over a canonical JSON
 * object. Canonical everything: one token per record, so none can be altered without breaking it.
 */
export function decodeToken(token: unknown): DecodedToken | undefined {
  if (typeof token !== "string" || token.length > MAX_TOKEN_LENGTH) return undefined;
  const parts = token.split(".");
  if (parts.length !== 2) return undefined;
  const [bodyPart, sigPart] = parts as [string, string];
  if (!segment.test(bodyPart) || !segment.test(sigPart)) return undefined;
  const bodyBytes = Buffer.from(bodyPart, "base64url");
  const signature = Buffer.from(sigPart, "base64url");
  if (bodyBytes.toString("base64url") !== bodyPart || signature.toString("base64url") !== sigPart) return undefined;
  let body: unknown;
  try {
    body = JSON.parse(bodyBytes.toString("utf8"));
  } catch {
    return undefined;
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) return undefined;
  if (!canonicalBytes(body).equals(bodyBytes)) return undefined;
  return { body, bodyBytes: new Uint8Array(bodyBytes), signature: new Uint8Array(signature) };
}

export async function verifyTokenSignature(decoded: DecodedToken, key: VerificationKey): Promise<boolean> {
  // IEEE P1363 lengths: a DER-encoded or truncated ECDSA signature is refused outright.
  if (decoded.signature.length !== 64) return false;
  try {
    return await webcrypto.subtle.verify(params(key.alg), key.publicKey, decoded.signature, decoded.bodyBytes);
  } catch {
    return false;
  }
}
