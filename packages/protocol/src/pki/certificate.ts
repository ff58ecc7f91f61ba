/**
 * Small read-only views of certificates and CRLs shared by issuance, revocation and validation:
 * names, key identifiers, key and signature algorithms. Nothing here decides trust.
 */
import { createPublicKey, webcrypto } from "node:crypto";
import { algorithmOfKey, webCryptoAlgorithm, type SignatureAlgorithm } from "../keys.js";
import { decodeOidSequence, equalBytes } from "./der.js";
import { roleOfOid, type Role } from "./profile.js";
import { x509 } from "./x509.js";

/** Extension OIDs, RFC 5280 §4.2.1 and §5.2. */
export const ExtensionOids = {
  subjectKeyIdentifier: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  cRLNumber: "2.5.29.20",
  cRLReason: "2.5.29.21",
  invalidityDate: "2.5.29.24",
  authorityKeyIdentifier: "2.5.29.35",
  extKeyUsage: "2.5.29.37",
} as const;

/** How messages name a certificate: its subject DN, quoted. */
export function describe(cert: x509.X509Certificate): string {
  return JSON.stringify(cert.subject);
}

export function nameBytes(name: x509.Name): Uint8Array {
  return new Uint8Array(name.toArrayBuffer());
}

/**
 * Issuer/subject chaining compares the encoded names exactly. RFC 5280 §4.1.2.4 requires a CA to
 * encode its subject the same way in the issuer field of everything it signs, so binary equality
 * is what conforming issuers (this module, OpenSSL) produce; it is also stricter than §7.1.
 */
export function sameName(a: x509.Name, b: x509.Name): boolean {
  return equalBytes(nameBytes(a), nameBytes(b));
}

export function hex(bytes: ArrayBuffer | Uint8Array): string {
  return Buffer.from(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes)).toString("hex");
}

/** Subject key identifier (RFC 5280 §4.2.1.2), lower-case hex. */
export function subjectKeyId(cert: x509.X509Certificate): string | undefined {
  return cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId.toLowerCase();
}

/** The keyIdentifier of an authority key identifier (RFC 5280 §4.2.1.1, §5.2.1), lower-case hex. */
export function authorityKeyId(item: x509.X509Certificate | x509.X509Crl): string | undefined {
  return item.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId?.toLowerCase();
}

/** The Péage algorithm of a SubjectPublicKeyInfo: P-256 (ES256), Ed25519 (EdDSA), or undefined. */
export function keyAlgorithmOf(cert: x509.X509Certificate | x509.Pkcs10CertificateRequest): SignatureAlgorithm | undefined {
  try {
    return algorithmOfKey(createPublicKey({ key: Buffer.from(cert.publicKey.rawData), format: "der", type: "spki" }));
  } catch {
    return undefined;
  }
}

/** The Péage algorithm a certificate or CRL is signed with: ecdsa-with-SHA256 or Ed25519 (RFC 5758 §3.2, RFC 8410 §3). */
export function signatureAlgorithmOf(item: x509.X509Certificate | x509.X509Crl): SignatureAlgorithm | undefined {
  const alg = item.signatureAlgorithm as { name?: string; hash?: { name?: string } };
  if (alg.name === "ECDSA" && alg.hash?.name === "SHA-256") return "ES256";
  if (alg.name === "Ed25519") return "EdDSA";
  return undefined;
}

/** Imports the certified key as a WebCrypto verification key, or undefined if it is not a Péage key. */
export async function importCertifiedKey(
  cert: x509.X509Certificate,
): Promise<{ alg: SignatureAlgorithm; publicKey: CryptoKey } | undefined> {
  const alg = keyAlgorithmOf(cert);
  if (!alg) return undefined;
  try {
    const params = webCryptoAlgorithm(alg) as EcKeyImportParams;
    return { alg, publicKey: await webcrypto.subtle.importKey("spki", cert.publicKey.rawData, params, true, ["verify"]) };
  } catch {
    return undefined;
  }
}

/** True when the two keys are the same public key (compared as SPKI DER). */
export async function samePublicKey(a: CryptoKey, spki: ArrayBuffer): Promise<boolean> {
  const exported = await webcrypto.subtle.exportKey("spki", a);
  return equalBytes(new Uint8Array(exported), new Uint8Array(spki));
}

/**
 * The roles listed in a certificate's extendedKeyUsage (RFC 5280 §4.2.1.12), or undefined when it
 * has none (for a CA: no limit). Other purposes are left out. Throws RangeError if malformed.
 */
export function rolesOf(cert: x509.X509Certificate): Role[] | undefined {
  // Decoded here rather than by the library, which mangles the 128-bit arc of the Péage OIDs.
  const extension = cert.extensions.find((item) => item.type === ExtensionOids.extKeyUsage);
  if (!extension) return undefined;
  return decodeOidSequence(new Uint8Array(extension.value)).flatMap((oid) => roleOfOid(oid) ?? []);
}

/** The subjectAltName URIs of a certificate (RFC 5280 §4.2.1.6); a Péage leaf has exactly one, its identity. */
export function subjectAltNameUris(cert: x509.X509Certificate): string[] {
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  return san ? san.names.items.filter((item) => item.type === "url").map((item) => item.value) : [];
}
