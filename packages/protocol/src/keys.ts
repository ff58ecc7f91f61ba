/**
 * Signing keys. Two algorithms, as JOSE names them (RFC 7518 §3.4, RFC 8037 §3.1):
 * ES256 (ECDSA P-256 with SHA-256, mandatory) and EdDSA (Ed25519).
 * Keys are WebCrypto CryptoKeys so that jose and @peculiar/x509 share them without conversion.
 */
import { createHash, createPrivateKey, createPublicKey, KeyObject, webcrypto } from "node:crypto";
import { canonicalBytes } from "./canonical.js";

export const SignatureAlgorithms = ["ES256", "EdDSA"] as const;
export type SignatureAlgorithm = (typeof SignatureAlgorithms)[number];

export function isSignatureAlgorithm(value: unknown): value is SignatureAlgorithm {
  return value === "ES256" || value === "EdDSA";
}

export interface KeyPair {
  readonly alg: SignatureAlgorithm;
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
}

/**
 * A private key held outside this process (a PKCS#11 token, an HSM): only its public half is
 * here, and `sign` returns the JOSE form of a signature over the bytes given (ES256: r || s, 64
 * bytes, RFC 7518 §3.4; EdDSA: the 64-byte Ed25519 signature).
 */
export interface ExternalKey {
  readonly alg: SignatureAlgorithm;
  readonly publicKey: CryptoKey;
  sign(data: Uint8Array): Promise<Uint8Array>;
}

/** What a server signs acknowledgments with: a key in memory, or one in a token. */
export type SigningKey = KeyPair | ExternalKey;

export function isExternalKey(key: SigningKey): key is ExternalKey {
  return "sign" in key && typeof key.sign === "function";
}

/** WebCrypto parameters for key generation, import and X.509 signing. */
export function webCryptoAlgorithm(alg: SignatureAlgorithm): (EcKeyImportParams & EcdsaParams) | Algorithm {
  return alg === "ES256" ? { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } : { name: "Ed25519" };
}

export async function generateKeyPair(alg: SignatureAlgorithm = "ES256"): Promise<KeyPair> {
  const pair = (await webcrypto.subtle.generateKey(webCryptoAlgorithm(alg) as EcKeyGenParams, true, [
    "sign",
    "verify",
  ])) as CryptoKeyPair;
  return { alg, privateKey: pair.privateKey, publicKey: pair.publicKey };
}

const keyObjects = new WeakMap<CryptoKey, KeyObject>();

/** The node:crypto form of a WebCrypto key, converted once per key. */
export function keyObjectOf(key: CryptoKey): KeyObject {
  let object = keyObjects.get(key);
  if (!object) {
    object = KeyObject.from(key);
    keyObjects.set(key, object);
  }
  return object;
}

/** The JOSE algorithm of a public or private key, or undefined for any other key type. */
export function algorithmOfKey(key: CryptoKey | KeyObject): SignatureAlgorithm | undefined {
  const object = key instanceof KeyObject ? key : keyObjectOf(key);
  // A KeyObject never changes: its algorithm is read once (asymmetricKeyDetails builds a new object on every read).
  let alg = algorithms.get(object);
  if (alg === undefined) {
    alg = null;
    if (object.asymmetricKeyType === "ed25519") alg = "EdDSA";
    else if (object.asymmetricKeyType === "ec" && object.asymmetricKeyDetails?.namedCurve === "prime256v1") alg = "ES256";
    algorithms.set(object, alg);
  }
  return alg ?? undefined;
}

/** The algorithm of each key seen, null for a key of no Péage algorithm. */
const algorithms = new WeakMap<KeyObject, SignatureAlgorithm | null>();

/** PKCS#8 PEM; with a passphrase, an ENCRYPTED PRIVATE KEY (PBES2, AES-256-CBC), so a copy of the file alone is useless. */
export function exportPrivateKeyPem(pair: KeyPair, passphrase?: string): string {
  const object = KeyObject.from(pair.privateKey);
  if (passphrase === undefined) return object.export({ type: "pkcs8", format: "pem" }).toString();
  return object.export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase }).toString();
}

export function exportPublicKeyPem(key: CryptoKey): string {
  return KeyObject.from(key).export({ type: "spki", format: "pem" }).toString();
}

/** Imports a PKCS#8 PEM private key (ES256 or EdDSA) with its public half; an encrypted one needs its passphrase. */
export async function importPrivateKeyPem(pem: string, passphrase?: string): Promise<KeyPair> {
  let object: KeyObject;
  try {
    object = createPrivateKey({ key: pem, format: "pem", ...(passphrase === undefined ? {} : { passphrase }) });
  } catch (cause) {
    throw new TypeError(`not a PEM private key: ${(cause as Error).message}`);
  }
  const alg = algorithmOfKey(object);
  if (!alg) throw new TypeError("unsupported key type: Péage keys are ECDSA P-256 (ES256) or Ed25519 (EdDSA)");
  const params = webCryptoAlgorithm(alg) as EcKeyImportParams;
  const pkcs8 = object.export({ type: "pkcs8", format: "der" });
  const spki = createPublicKey(object).export({ type: "spki", format: "der" });
  return {
    alg,
    privateKey: await webcrypto.subtle.importKey("pkcs8", pkcs8, params, true, ["sign"]),
    publicKey: await webcrypto.subtle.importKey("spki", spki, params, true, ["verify"]),
  };
}

/** Imports an SPKI PEM public key. */
export async function importPublicKeyPem(pem: string): Promise<{ alg: SignatureAlgorithm; publicKey: CryptoKey }> {
  const object = createPublicKey({ key: pem, format: "pem" });
  const alg = algorithmOfKey(object);
  if (!alg) throw new TypeError("unsupported key type: Péage keys are ECDSA P-256 (ES256) or Ed25519 (EdDSA)");
  const spki = object.export({ type: "spki", format: "der" });
  return {
    alg,
    publicKey: await webcrypto.subtle.importKey("spki", spki, webCryptoAlgorithm(alg) as EcKeyImportParams, true, ["verify"]),
  };
}

const thumbprints = new WeakMap<CryptoKey, string>();

/**
 * The RFC 7638 SHA-256 thumbprint of a public key: SHA-256 over the canonical JSON of the key's
 * required JWK members only (EC: crv, kty, x, y; OKP: crv, kty, x, RFC 8037 §2), base64url.
 */
export function jwkThumbprint(publicKey: CryptoKey): string {
  let thumbprint = thumbprints.get(publicKey);
  if (thumbprint === undefined) {
    const jwk = keyObjectOf(publicKey).export({ format: "jwk" });
    const required =
      jwk.kty === "EC" ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y } : { crv: jwk.crv, kty: jwk.kty, x: jwk.x };
    thumbprint = createHash("sha256").update(canonicalBytes(required)).digest("base64url");
    thumbprints.set(publicKey, thumbprint);
  }
  return thumbprint;
}
