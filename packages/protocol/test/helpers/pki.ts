/**
 * Test helpers for the PKI tests: a low-level certificate builder that, unlike issueCertificate,
 * signs whatever extensions it is given (so tests can build every broken case), the usual
 * extension sets, and small wrappers for temp directories and the openssl command line.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";
import type { Result, VerificationCode } from "../../src/errors.js";
import type { PartyId } from "../../src/identity.js";
import { generateKeyPair, type KeyPair, type SignatureAlgorithm } from "../../src/keys.js";
import { randomSerialNumber, roleOids, toX5c, x509, type CertifiedKeyPair, type Role } from "../../src/pki/index.js";

export const DAY = 86_400_000;
export const HOUR = 3_600_000;
/** The tests' "now": fixed, so that every date in them is reproducible. */
export const NOW = new Date("2026-03-01T12:00:00.000Z");

export const at = (offsetMs: number): Date => new Date(NOW.getTime() + offsetMs);

export interface RawCertificateOptions {
  /** Signs with this issuer; self-signed with `keys` when absent. */
  readonly issuer?: CertifiedKeyPair;
  /** Signs with this key instead of the issuer's (forgeries). */
  readonly signingKey?: CryptoKey;
  readonly subject: string;
  readonly keys: KeyPair | { readonly publicKey: CryptoKey; readonly privateKey?: CryptoKey };
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  readonly extensions: readonly x509.Extension[];
}

/** Builds and signs a certificate with exactly the given extensions. */
export async function rawCertificate(opts: RawCertificateOptions): Promise<x509.X509Certificate> {
  const signingKey = opts.signingKey ?? opts.issuer?.keys.privateKey ?? opts.keys.privateKey;
  assert.ok(signingKey, "rawCertificate needs a signing key");
  return x509.X509CertificateGenerator.create({
    serialNumber: randomSerialNumber(),
    subject: opts.subject,
    issuer: opts.issuer ? opts.issuer.certificate.subjectName : opts.subject,
    publicKey: opts.keys.publicKey,
    signingKey,
    notBefore: opts.notBefore ?? at(-DAY),
    notAfter: opts.notAfter ?? at(365 * DAY),
    extensions: [...opts.extensions],
  });
}

export const ext = {
  basicConstraints: (ca: boolean, pathLength?: number): x509.Extension =>
    new x509.BasicConstraintsExtension(ca, pathLength, true),
  keyUsage: (flags: number): x509.Extension => new x509.KeyUsagesExtension(flags, true),
  caKeyUsage: (): x509.Extension =>
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
  leafKeyUsage: (): x509.Extension => new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
  roles: (...roles: Role[]): x509.Extension =>
    new x509.ExtendedKeyUsageExtension(
      roles.map((role) => roleOids[role]),
      false,
    ),
  uris: (...uris: string[]): x509.Extension =>
    new x509.SubjectAlternativeNameExtension(
      uris.map((value) => ({ type: "url" as const, value })),
      false,
    ),
  ski: (key: CryptoKey): Promise<x509.SubjectKeyIdentifierExtension> => x509.SubjectKeyIdentifierExtension.create(key),
  akiOf: (issuer: x509.X509Certificate): x509.Extension => {
    const ski = issuer.getExtension(x509.SubjectKeyIdentifierExtension);
    assert.ok(ski);
    return new x509.AuthorityKeyIdentifierExtension(ski.keyId, false);
  },
};

/** The extensions of a well-formed leaf, for tests that break one of them. */
export async function leafExtensions(
  issuer: CertifiedKeyPair,
  key: CryptoKey,
  roles: Role[],
  identity: string,
): Promise<x509.Extension[]> {
  return [
    ext.basicConstraints(false),
    ext.leafKeyUsage(),
    ext.roles(...roles),
    ext.uris(identity),
    await ext.ski(key),
    ext.akiOf(issuer.certificate),
  ];
}

/** The extensions of a well-formed CA below `issuer`. */
export async function caExtensions(issuer: CertifiedKeyPair, key: CryptoKey, pathLength?: number): Promise<x509.Extension[]> {
  return [ext.basicConstraints(true, pathLength), ext.caKeyUsage(), await ext.ski(key), ext.akiOf(issuer.certificate)];
}

/** A fresh key pair with a certificate built by rawCertificate. */
export async function rawParty(
  alg: SignatureAlgorithm,
  build: (keys: KeyPair) => Promise<x509.X509Certificate>,
): Promise<CertifiedKeyPair> {
  const keys = await generateKeyPair(alg);
  return { keys, certificate: await build(keys) };
}

export const chain = (...certs: x509.X509Certificate[]): string[] => certs.map(toX5c);

/** Asserts a failed Result with this code, and returns the error for further checks. */
export function assertFails<T>(result: Result<T>, code: VerificationCode, mentions?: string) {
  assert.equal(result.ok, false, `expected ${code}, got success`);
  if (result.ok) throw new Error("unreachable");
  assert.equal(result.error.code, code, `expected ${code}, got ${result.error.code}: ${result.error.message}`);
  if (mentions) assert.ok(result.error.message.includes(mentions), `"${result.error.message}" should mention ${mentions}`);
  return result.error;
}

export function assertOk<T>(result: Result<T>): T {
  if (!result.ok) assert.fail(`expected success, got ${result.error.code}: ${result.error.message}`);
  return result.value;
}

export function identity(kind: "publisher" | "server", name: string): PartyId {
  return `urn:peage:${kind}:${name}` as PartyId;
}

/** Runs `fn` in a fresh temporary directory, removed afterwards. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "peage-pki-"));
  try {
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface OpensslResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the openssl command line in `cwd`. */
export function openssl(args: readonly string[], cwd: string): OpensslResult {
  const result = spawnSync("openssl", args, { cwd, encoding: "utf8" });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Runs openssl and fails the test, showing its output, unless it exits 0. */
export function opensslOk(args: readonly string[], cwd: string): string {
  const result = openssl(args, cwd);
  assert.equal(result.status, 0, `openssl ${args.join(" ")} failed:\n${result.stdout}${result.stderr}`);
  return result.stdout;
}

export const opensslAvailable = spawnSync("openssl", ["version"]).status === 0;
