/**
 * Where the server's signing key lives: a PKCS#8 file in the data directory (optionally encrypted
 * with a passphrase, so a copied disk or backup does not give the key away), or a PKCS#11 token
 * (an HSM, or SoftHSM2 for tests) that signs without the key ever leaving it.
 */
import { createHash, createPublicKey, KeyObject, randomBytes, verify as cryptoVerify } from "node:crypto";
import { createRequire } from "node:module";
import { importPrivateKeyPem, PeageError, type ExternalKey, type SignatureAlgorithm, type SigningKey } from "@peage/protocol";

/** How to reach the key; secrets (passphrase, PIN) already read from their file or variable. */
export type KeySource =
  | { readonly kind: "file"; readonly passphrase: string | undefined }
  | { readonly kind: "pkcs11"; readonly module: string; readonly token: string; readonly label: string; readonly pin: string };

/** The server's signing key cannot be loaded (encrypted without a passphrase, a wrong one, a token that refuses). */
export class SigningKeyError extends PeageError<"ERR_SIGNING_KEY"> {
  override readonly name = "SigningKeyError";
  constructor(message: string, options?: { readonly cause?: unknown }) {
    super("ERR_SIGNING_KEY", message, options);
  }
}

/** Imports a PEM private key, decrypting it when it is an ENCRYPTED PRIVATE KEY. */
export async function keyFromPem(pem: string, passphrase: string | undefined, where: string): Promise<SigningKey> {
  const encrypted = pem.includes("-----BEGIN ENCRYPTED PRIVATE KEY-----");
  if (encrypted && passphrase === undefined) {
    throw new SigningKeyError(
      `${where} is encrypted: give its passphrase in a file (keyPassphraseFile, --key-passphrase-file) or in PEAGE_KEY_PASSPHRASE`,
    );
  }
  try {
    return await importPrivateKeyPem(pem, encrypted ? passphrase : undefined);
  } catch (cause) {
    const message = (cause as Error).message;
    if (encrypted && /bad decrypt|unable to decrypt|decrypt/i.test(message))
      throw new SigningKeyError(`${where}: wrong passphrase`);
    throw new SigningKeyError(`${where}: ${message}`);
  }
}

/** What a token-backed key needs besides the token: the certified public key, to know the algorithm and check the token's signatures. */
export interface TokenKeyOptions {
  readonly source: Extract<KeySource, { kind: "pkcs11" }>;
  /** The leaf certificate's SubjectPublicKeyInfo, DER. */
  readonly spki: Uint8Array;
  readonly publicKey: CryptoKey;
  readonly alg: SignatureAlgorithm;
}

/** An open PKCS#11 session with the key found; close() logs out and finalizes the module. */
export interface TokenKey extends ExternalKey {
  close(): void;
}

type Pkcs11Module = typeof import("pkcs11js");

/** CKM_EDDSA (PKCS#11 v3.0), which the bindings' constants predate. */
const CKM_EDDSA = 0x1057;

/**
 * A PKCS#11 module is initialised once per process: every key opened from it shares it, and the
 * last one closed finalises it (a second C_Initialize fails with CKR_CRYPTOKI_ALREADY_INITIALIZED).
 */
const modules = new Map<string, { readonly lib: InstanceType<Pkcs11Module["PKCS11"]>; users: number }>();

function acquireModule(pkcs11js: Pkcs11Module, path: string): InstanceType<Pkcs11Module["PKCS11"]> {
  const known = modules.get(path);
  if (known) {
    known.users++;
    return known.lib;
  }
  const lib = new pkcs11js.PKCS11();
  try {
    lib.load(path);
  } catch (cause) {
    throw new SigningKeyError(`cannot load the PKCS#11 module ${path}: ${(cause as Error).message}`);
  }
  lib.C_Initialize();
  modules.set(path, { lib, users: 1 });
  return lib;
}

function releaseModule(path: string): void {
  const known = modules.get(path);
  if (!known || --known.users > 0) return;
  modules.delete(path);
  known.lib.C_Finalize();
}

/**
 * Opens the token whose label is `source.token`, logs in with the PIN, finds the private key by
 * label, and signs a probe that the certified public key must verify: a server never starts with
 * a token key that is not the one its certificate names.
 */
export function openTokenKey(opts: TokenKeyOptions): TokenKey {
  const { source } = opts;
  // Loaded only when a token is configured: the native module is not needed otherwise.
  const pkcs11js = createRequire(import.meta.url)("pkcs11js") as Pkcs11Module;
  const lib = acquireModule(pkcs11js, source.module);
  let session: Buffer | undefined;
  try {
    const slot = lib.C_GetSlotList(true).find((candidate) => lib.C_GetTokenInfo(candidate).label.trim() === source.token);
    if (slot === undefined) throw new SigningKeyError(`no PKCS#11 token labelled "${source.token}" in ${source.module}`);
    session = lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
    const open = session;
    try {
      lib.C_Login(open, pkcs11js.CKU_USER, source.pin);
    } catch (cause) {
      // A login is per token and application: a second key of the same token finds it done.
      if (!/CKR_USER_ALREADY_LOGGED_IN/.test((cause as Error).message)) {
        throw new SigningKeyError(`cannot log in to the token "${source.token}": ${(cause as Error).message} (check the PIN)`);
      }
    }
    lib.C_FindObjectsInit(open, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
      { type: pkcs11js.CKA_LABEL, value: source.label },
    ]);
    const found = lib.C_FindObjects(open, 2);
    lib.C_FindObjectsFinal(open);
    if (found.length !== 1) {
      const how = found.length === 0 ? "no" : "more than one";
      throw new SigningKeyError(`the token "${source.token}" has ${how} private key labelled "${source.label}"`);
    }
    const handle = found[0]!;
    const mechanism = opts.alg === "ES256" ? pkcs11js.CKM_ECDSA : CKM_EDDSA;
    const sign = (data: Uint8Array): Uint8Array => {
      // CKM_ECDSA signs a digest we compute (r || s out, as JOSE wants); CKM_EDDSA signs the message.
      const input = opts.alg === "ES256" ? createHash("sha256").update(data).digest() : Buffer.from(data);
      lib.C_SignInit(open, { mechanism }, handle);
      return new Uint8Array(lib.C_Sign(open, input, Buffer.alloc(128)));
    };
    const probe = randomBytes(32);
    const verifier = createPublicKey({ key: Buffer.from(opts.spki), format: "der", type: "spki" });
    const signature = sign(probe);
    const ok = cryptoVerify(
      opts.alg === "ES256" ? "sha256" : null,
      probe,
      { key: verifier, dsaEncoding: "ieee-p1363" },
      signature,
    );
    if (!ok)
      throw new SigningKeyError(
        `the key "${source.label}" in the token "${source.token}" is not the key the server's certificate names`,
      );
    let closed = false;
    return {
      alg: opts.alg,
      publicKey: opts.publicKey,
      // PKCS#11 calls are synchronous and one session runs one operation at a time; the JavaScript
      // thread serialises them. A token signature takes about as long as a software one.
      sign: async (data) => sign(data),
      // Closing the application's last session of a token logs it out (PKCS#11 §5.6).
      close: () => {
        if (closed) return;
        closed = true;
        lib.C_CloseSession(open);
        releaseModule(source.module);
      },
    };
  } catch (error) {
    if (session !== undefined) lib.C_CloseSession(session);
    releaseModule(source.module);
    throw error;
  }
}

/** The DER SubjectPublicKeyInfo of a key in memory, to compare with a certificate. */
export function spkiOf(publicKey: CryptoKey): Buffer {
  return KeyObject.from(publicKey).export({ type: "spki", format: "der" });
}
