/**
 * The user's signing key, encrypted at rest with a passphrase: scrypt (RFC 7914) derives a
 * 256-bit key from the passphrase and a random 16-byte salt, and AES-256-GCM (NIST SP 800-38D)
 * with a random 12-byte IV encrypts the PKCS#8 private key. The scrypt parameters, algorithm and
 * key id are authenticated as GCM additional data, so editing any of them makes the file unreadable
 * rather than weaker. node:crypto only.
 */
import {
  createCipheriv,
  createDecipheriv,
  KeyObject,
  randomBytes,
  scrypt as scryptCallback,
  type JsonWebKey,
  type ScryptOptions,
} from "node:crypto";
import { readFile } from "node:fs/promises";
import {
  canonicalBytes,
  exportPrivateKeyPem,
  importPrivateKeyPem,
  isPlainObject,
  isSignatureAlgorithm,
  keyThumbprint,
  type KeyPair,
  type SignatureAlgorithm,
} from "@peage/protocol";
import { WalletError } from "./errors.js";
import { writePrivateFile } from "./private-files.js";

/** scrypt cost: N = 2^15, r = 8, p = 1 (RFC 7914 §2; 32 MiB and about 0.1 s per unlock). */
export const DEFAULT_SCRYPT = { N: 2 ** 15, r: 8, p: 1 } as const;
const SALT_BYTES = 16;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
/** Bounds accepted when reading a file: below is too weak, above would let a file exhaust memory. */
const MIN_LOG2_N = 14;
const MAX_LOG2_N = 20;

export interface ScryptParameters {
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

/** The key file as stored (JSON). Binary fields are base64url. */
export interface KeyStoreFile {
  readonly type: "peage.wallet-key";
  readonly v: 1;
  readonly alg: SignatureAlgorithm;
  /** RFC 7638 thumbprint of the public key: the `kid` of every consent the key signs. */
  readonly kid: string;
  readonly publicJwk: JsonWebKey;
  readonly kdf: { readonly name: "scrypt"; readonly salt: string } & ScryptParameters;
  readonly cipher: { readonly name: "aes-256-gcm"; readonly iv: string; readonly tag: string };
  readonly ciphertext: string;
}

/** Encrypts `pair` under `passphrase` into the stored form. */
export async function sealKey(
  pair: KeyPair,
  passphrase: string,
  params: ScryptParameters = DEFAULT_SCRYPT,
): Promise<KeyStoreFile> {
  checkPassphrase(passphrase);
  const salt = randomBytes(SALT_BYTES);
  const iv = randomBytes(IV_BYTES);
  const header = {
    type: "peage.wallet-key" as const,
    v: 1 as const,
    alg: pair.alg,
    kid: await keyThumbprint(pair.publicKey),
    publicJwk: publicJwkOf(pair.publicKey),
    kdf: { name: "scrypt" as const, salt: salt.toString("base64url"), ...params },
  };
  const key = await deriveKey(passphrase, salt, params);
  const cipher = createCipheriv("aes-256-gcm", key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(additionalData(header));
  const plaintext = Buffer.from(exportPrivateKeyPem(pair), "utf8");
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  plaintext.fill(0);
  key.fill(0);
  return {
    ...header,
    cipher: { name: "aes-256-gcm", iv: iv.toString("base64url"), tag: cipher.getAuthTag().toString("base64url") },
    ciphertext: ciphertext.toString("base64url"),
  };
}

/** Decrypts a stored key; a wrong passphrase (or any edit of the file) is ERR_WALLET_LOCKED. */
export async function unsealKey(file: KeyStoreFile, passphrase: string): Promise<KeyPair> {
  checkPassphrase(passphrase);
  const { type, v, alg, kid, publicJwk, kdf } = file;
  const key = await deriveKey(passphrase, Buffer.from(kdf.salt, "base64url"), kdf);
  let pem: string;
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(file.cipher.iv, "base64url"), { authTagLength: TAG_BYTES });
    decipher.setAAD(additionalData({ type, v, alg, kid, publicJwk, kdf }));
    decipher.setAuthTag(Buffer.from(file.cipher.tag, "base64url"));
    pem = Buffer.concat([decipher.update(Buffer.from(file.ciphertext, "base64url")), decipher.final()]).toString("utf8");
  } catch {
    throw new WalletError(
      "ERR_WALLET_LOCKED",
      "the passphrase does not unlock this wallet key: type it again (the key file may also have been altered)",
      423,
      false,
    );
  } finally {
    key.fill(0);
  }
  const pair = await importPrivateKeyPem(pem);
  if (pair.alg !== alg || (await keyThumbprint(pair.publicKey)) !== kid) {
    throw new WalletError(
      "ERR_WALLET_LOCKED",
      "the decrypted key is not the one the key file names: restore the key file from a backup",
      423,
      false,
    );
  }
  return pair;
}

/** Writes the sealed key to `path` with mode 0600 (its directory 0700). */
export async function saveKey(path: string, pair: KeyPair, passphrase: string, params?: ScryptParameters): Promise<KeyStoreFile> {
  const file = await sealKey(pair, passphrase, params);
  await writePrivateFile(path, `${JSON.stringify(file, null, 2)}\n`);
  return file;
}

/** Reads and checks a key file without decrypting it. */
export async function readKeyFile(path: string): Promise<KeyStoreFile> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (cause) {
    throw new WalletError(
      "ERR_WALLET_UNAVAILABLE",
      `no wallet key at ${path} (${(cause as Error).message}): run the wallet's init first`,
      503,
      false,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw malformed(path, "it is not JSON");
  }
  return parseKeyFile(value, path);
}

/** Reads and decrypts the key at `path`. */
export async function loadKey(path: string, passphrase: string): Promise<{ pair: KeyPair; file: KeyStoreFile }> {
  const file = await readKeyFile(path);
  return { pair: await unsealKey(file, passphrase), file };
}

/** Validates the shape of a key file, including scrypt bounds, so a tampered file cannot exhaust memory. */
export function parseKeyFile(value: unknown, where = "key file"): KeyStoreFile {
  if (!isPlainObject(value) || value["type"] !== "peage.wallet-key" || value["v"] !== 1)
    throw malformed(where, "it is not a Péage wallet key file");
  const { alg, kid, publicJwk, kdf, cipher, ciphertext } = value;
  if (!isSignatureAlgorithm(alg)) throw malformed(where, "unknown key algorithm");
  if (typeof kid !== "string" || !/^[A-Za-z0-9_-]{43}$/.test(kid)) throw malformed(where, "bad key id");
  if (!isPlainObject(publicJwk)) throw malformed(where, "no public key");
  if (!isPlainObject(kdf) || kdf["name"] !== "scrypt" || !isBase64url(kdf["salt"], SALT_BYTES))
    throw malformed(where, "bad scrypt parameters");
  const { N, r, p } = kdf;
  const log2N = typeof N === "number" ? Math.log2(N) : NaN;
  if (!(Number.isInteger(log2N) && log2N >= MIN_LOG2_N && log2N <= MAX_LOG2_N)) throw malformed(where, "scrypt N out of bounds");
  if (r !== 8 || p !== 1) throw malformed(where, "scrypt r and p must be 8 and 1");
  if (
    !isPlainObject(cipher) ||
    cipher["name"] !== "aes-256-gcm" ||
    !isBase64url(cipher["iv"], IV_BYTES) ||
    !isBase64url(cipher["tag"], TAG_BYTES)
  ) {
    throw malformed(where, "bad cipher parameters");
  }
  if (typeof ciphertext !== "string" || !/^[A-Za-z0-9_-]{1,8192}$/.test(ciphertext)) throw malformed(where, "bad ciphertext");
  return value as unknown as KeyStoreFile;
}

/** The public half as a JWK (RFC 7517), as the payment server enrols it. */
export function publicJwkOf(publicKey: CryptoKey): JsonWebKey {
  return KeyObject.from(publicKey).export({ format: "jwk" });
}

function additionalData(header: Omit<KeyStoreFile, "cipher" | "ciphertext">): Buffer {
  return canonicalBytes(header);
}

function deriveKey(passphrase: string, salt: Buffer, params: ScryptParameters): Promise<Buffer> {
  // Same passphrase, same key, whichever way the system composed its accented letters.
  const secret = Buffer.from(passphrase.normalize("NFC"), "utf8");
  const options: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r + 1024 * 1024 };
  return new Promise((resolve, reject) => {
    scryptCallback(secret, salt, KEY_BYTES, options, (error, key) => {
      secret.fill(0);
      if (error) reject(error);
      else resolve(key);
    });
  });
}

function checkPassphrase(passphrase: string): void {
  if (typeof passphrase !== "string" || passphrase.length === 0) {
    throw new WalletError("ERR_WALLET_LOCKED", "a passphrase is needed to unlock the wallet key", 423, false);
  }
}

function isBase64url(value: unknown, bytes: number): value is string {
  return typeof value === "string" && /^[A-Za-z0-9_-]+$/.test(value) && Buffer.from(value, "base64url").length === bytes;
}

function malformed(where: string, why: string): WalletError {
  return new WalletError(
    "ERR_MALFORMED",
    `the wallet key file ${where} is unreadable: ${why}; restore it from a backup or run init again`,
    500,
    false,
  );
}
