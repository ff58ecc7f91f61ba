/**
 * Users' public keys as the operator enrols them: a JWK (RFC 7517) of an ECDSA P-256 key
 * (RFC 7518 §6.2) or an Ed25519 key (RFC 8037 §2), public members only. The key is imported to
 * prove it is a real point of the curve, and named by its RFC 7638 thumbprint, the `kid` the
 * user's consents carry.
 */
import { webcrypto } from "node:crypto";
import { canonicalBytes, keyThumbprint, type SignatureAlgorithm, type UserKey } from "@peage/protocol";

/** The public members of an enrolled key, as stored. */
export type PublicJwk =
  | { readonly kty: "EC"; readonly crv: "P-256"; readonly x: string; readonly y: string }
  | { readonly kty: "OKP"; readonly crv: "Ed25519"; readonly x: string };

export interface ParsedUserKey {
  readonly jwk: PublicJwk;
  readonly alg: SignatureAlgorithm;
  readonly kid: string;
  readonly publicKey: CryptoKey;
}

export type KeyParseResult =
  { readonly ok: true; readonly value: ParsedUserKey } | { readonly ok: false; readonly message: string };

/** Members a public JWK may carry besides the key itself; anything else (notably "d") is refused. */
const optionalMembers = new Set(["alg", "kid", "use", "key_ops", "ext"]);
const coordinatePattern = /^[A-Za-z0-9_-]{43}$/;

/**
 * 32 bytes in base64url, canonically: the 43rd character carries two bits past the last byte,
 * which decoders drop, so only the spelling with those bits zero is accepted. Otherwise one key
 * would have several JWKs, and a second enrolment of the same key could look like a new one.
 */
const coordinate = {
  test: (value: string): boolean =>
    coordinatePattern.test(value) && Buffer.from(value, "base64url").toString("base64url") === value,
};

/** Checks and imports an enrolment JWK; the message says what to fix. */
export async function parseUserJwk(value: unknown): Promise<KeyParseResult> {
  const bad = (message: string): KeyParseResult => ({ ok: false, message });
  if (typeof value !== "object" || value === null || Array.isArray(value)) return bad("publicKey must be a JWK object");
  const jwk = value as Record<string, unknown>;
  if ("d" in jwk) return bad("publicKey holds a private key (member d): send only the public key");
  let publicJwk: PublicJwk;
  let alg: SignatureAlgorithm;
  if (jwk["kty"] === "EC" && jwk["crv"] === "P-256") {
    publicJwk = { kty: "EC", crv: "P-256", x: String(jwk["x"]), y: String(jwk["y"]) };
    alg = "ES256";
    if (
      typeof jwk["x"] !== "string" ||
      typeof jwk["y"] !== "string" ||
      !coordinate.test(jwk["x"]) ||
      !coordinate.test(jwk["y"])
    ) {
      return bad("a P-256 JWK needs x and y, each 32 bytes in canonical base64url (RFC 7518 §6.2.1)");
    }
  } else if (jwk["kty"] === "OKP" && jwk["crv"] === "Ed25519") {
    publicJwk = { kty: "OKP", crv: "Ed25519", x: String(jwk["x"]) };
    alg = "EdDSA";
    if (typeof jwk["x"] !== "string" || !coordinate.test(jwk["x"]))
      return bad("an Ed25519 JWK needs x, 32 bytes in canonical base64url (RFC 8037 §2)");
  } else {
    return bad(
      `only P-256 (kty EC, crv P-256) and Ed25519 (kty OKP, crv Ed25519) keys are accepted, got kty ${JSON.stringify(jwk["kty"])} crv ${JSON.stringify(jwk["crv"])}`,
    );
  }
  const extra = Object.keys(jwk).filter((name) => !["kty", "crv", "x", "y"].includes(name) && !optionalMembers.has(name));
  if (extra.length > 0 || (alg === "EdDSA" && "y" in jwk))
    return bad(
      `publicKey has members a public ${alg} JWK does not: ${[...extra, ...(alg === "EdDSA" && "y" in jwk ? ["y"] : [])].join(", ")}`,
    );
  // RFC 9864 names Ed25519 keys' algorithm "Ed25519" (WebCrypto exports that); RFC 8037 says "EdDSA".
  const algNames = alg === "ES256" ? ["ES256"] : ["EdDSA", "Ed25519"];
  if (jwk["alg"] !== undefined && !algNames.includes(jwk["alg"] as string)) {
    return bad(`publicKey alg ${JSON.stringify(jwk["alg"])} does not match its curve (${algNames.join(" or ")})`);
  }

  let publicKey: CryptoKey;
  try {
    publicKey = await importJwk(publicJwk);
  } catch (cause) {
    return bad(`publicKey is not a valid ${alg} public key: ${(cause as Error).message}`);
  }
  const kid = await keyThumbprint(publicKey);
  if (jwk["kid"] !== undefined && jwk["kid"] !== kid)
    return bad(`publicKey kid must be its RFC 7638 SHA-256 thumbprint ${kid}, or absent`);
  return { ok: true, value: { jwk: publicJwk, alg, kid, publicKey } };
}

/** Imports a stored JWK for signature verification. */
export function importJwk(jwk: PublicJwk): Promise<CryptoKey> {
  const params = jwk.kty === "EC" ? { name: "ECDSA", namedCurve: "P-256" } : { name: "Ed25519" };
  return webcrypto.subtle.importKey("jwk", { ...jwk }, params, true, ["verify"]);
}

/** The stored form of a JWK: RFC 8785 canonical JSON. */
export function storedJwk(jwk: PublicJwk): string {
  return canonicalBytes(jwk).toString("utf8");
}

/**
 * Imported keys of enrolled users by (user, kid). Importing costs more than the signature check
 * it enables; an enrolled key never changes (a new key is a new enrolment), so entries stay valid.
 */
export class UserKeyCache {
  readonly #entries = new Map<string, Promise<UserKey>>();
  constructor(readonly capacity = 10_000) {}

  get(user: string, kid: string, load: () => Promise<UserKey>): Promise<UserKey> {
    const key = `${user} ${kid}`;
    let entry = this.#entries.get(key);
    if (!entry) {
      entry = load();
      // A failed import is not kept: the next request tries again.
      entry.catch(() => this.#entries.delete(key));
      this.#entries.set(key, entry);
      if (this.#entries.size > this.capacity) this.#entries.delete(this.#entries.keys().next().value!);
    }
    return entry;
  }
}
