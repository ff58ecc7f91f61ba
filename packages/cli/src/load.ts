/**
 * Loading the PKI material named by options: certificates and CRLs (PEM), private keys (PKCS#8
 * PEM), a CA with its key, and trust stores. A file that is not what its option expects is a
 * usage error naming the option.
 */
import { webcrypto } from "node:crypto";
import {
  TrustStore,
  VerificationError,
  importPrivateKeyPem,
  parseCertificatesPem,
  parseCrlsPem,
  x509,
  type CertifiedKeyPair,
  type KeyPair,
  type RevocationPolicy,
} from "@peage/protocol";
import { CommandError, UsageError } from "./errors.js";
import { readInput } from "./files.js";

/** Every certificate of a PEM file, first one first. */
export async function loadCertificates(path: string, what: string): Promise<x509.X509Certificate[]> {
  const text = await readInput(path, what);
  try {
    return parseCertificatesPem(text);
  } catch (cause) {
    throw new UsageError(`${what} ${path}: not a PEM certificate file: ${reason(cause)}`);
  }
}

/** Every CRL of a PEM file. */
export async function loadCrls(path: string, what: string): Promise<x509.X509Crl[]> {
  const text = await readInput(path, what);
  try {
    return parseCrlsPem(text);
  } catch (cause) {
    throw new UsageError(`${what} ${path}: not a PEM CRL file: ${reason(cause)}`);
  }
}

/** Where a command finds the passphrase of an encrypted key (`peage pki protect-key` makes them). */
export const KEY_PASSPHRASE_ENV = "PEAGE_KEY_PASSPHRASE";

/** A PKCS#8 PEM private key, P-256 or Ed25519, with its public half; an encrypted one is opened with PEAGE_KEY_PASSPHRASE. */
export async function loadPrivateKey(path: string, what: string): Promise<KeyPair> {
  const text = await readInput(path, what);
  const encrypted = text.includes("-----BEGIN ENCRYPTED PRIVATE KEY-----");
  const passphrase = process.env[KEY_PASSPHRASE_ENV];
  if (encrypted && !passphrase) throw new UsageError(`${what} ${path} is encrypted: set ${KEY_PASSPHRASE_ENV} to its passphrase`);
  try {
    return await importPrivateKeyPem(text, encrypted ? passphrase : undefined);
  } catch (cause) {
    if (encrypted)
      throw new UsageError(`${what} ${path}: cannot decrypt it with the passphrase in ${KEY_PASSPHRASE_ENV} (${reason(cause)})`);
    throw new UsageError(`${what} ${path}: ${reason(cause)}`);
  }
}

/** True when `keys` is the key pair certified by `cert` (compared as SPKI DER). */
export async function certifies(cert: x509.X509Certificate, keys: KeyPair): Promise<boolean> {
  const spki = new Uint8Array(await webcrypto.subtle.exportKey("spki", keys.publicKey));
  return Buffer.from(spki).equals(Buffer.from(cert.publicKey.rawData));
}

export interface LoadedCa {
  readonly issuer: CertifiedKeyPair;
  /** The certificates after the CA's own in the --ca-cert file: its chain towards the root. */
  readonly chain: readonly x509.X509Certificate[];
}

/** A CA certificate (first of the --ca-cert file) and its private key, checked to belong together. */
export async function loadCa(certPath: string, keyPath: string): Promise<LoadedCa> {
  const [certificate, ...chain] = await loadCertificates(certPath, "--ca-cert");
  const keys = await loadPrivateKey(keyPath, "--ca-key");
  if (!(await certifies(certificate!, keys))) {
    throw new CommandError(
      "ERR_KEY_MISMATCH",
      `--ca-key ${keyPath} is not the key of the CA certificate ${JSON.stringify(certificate!.subject)}: give the key that certificate certifies`,
    );
  }
  const constraints = certificate!.getExtension(x509.BasicConstraintsExtension);
  if (!constraints?.ca) {
    throw new CommandError(
      "ERR_NOT_A_CA",
      `--ca-cert ${certPath}: ${JSON.stringify(certificate!.subject)} is not a CA certificate (basicConstraints cA is not set): give a CA's certificate`,
    );
  }
  return { issuer: { certificate: certificate!, keys }, chain };
}

/** A trust store from --trust files (roots) and --crl files. */
export async function loadTrustStore(
  trustPaths: readonly string[],
  crlPaths: readonly string[],
  revocation: RevocationPolicy,
): Promise<TrustStore> {
  const roots = (await Promise.all(trustPaths.map((path) => loadCertificates(path, "--trust")))).flat();
  const crls = (await Promise.all(crlPaths.map((path) => loadCrls(path, "--crl")))).flat();
  try {
    return new TrustStore({ roots, crls, revocation });
  } catch (cause) {
    throw new UsageError(`--trust: a root certificate cannot be used: ${reason(cause)}`);
  }
}

/** Parses a distinguished name ("CN=acme-games,O=Péage"), refusing empty or unknown attribute names. */
export function parseSubject(text: string, what: string): x509.Name {
  let name: x509.Name;
  try {
    name = new x509.Name(text);
  } catch (cause) {
    throw new UsageError(
      `${what} ${JSON.stringify(text)} is not a distinguished name: ${reason(cause)}; write it as "CN=name,O=organisation"`,
    );
  }
  if (name.toJSON().length === 0) {
    throw new UsageError(`${what} ${JSON.stringify(text)} is not a distinguished name: write it as "CN=name,O=organisation"`);
  }
  return name;
}

function reason(cause: unknown): string {
  if (cause instanceof VerificationError) return cause.message;
  return cause instanceof Error ? cause.message : String(cause);
}
