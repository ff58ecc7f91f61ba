/**
 * Issuing certificates in the Péage profile (RFC 5280 §4): self-signed roots, intermediate CAs
 * that may be limited to some roles, and leaves that carry one party's identity and role(s).
 * The signature algorithm follows the issuer's key: ecdsa-with-SHA256 for P-256, Ed25519 for Ed25519.
 */
import { webcrypto } from "node:crypto";
import { partyIdPattern, type PartyId } from "../identity.js";
import { algorithmOfKey, webCryptoAlgorithm, type KeyPair } from "../keys.js";
import { describe, keyAlgorithmOf, samePublicKey } from "./certificate.js";
import { integerContent } from "./der.js";
import { roleOids, type Role } from "./profile.js";
import { x509 } from "./x509.js";

/** A certificate and the key pair it certifies. */
export interface CertifiedKeyPair {
  readonly certificate: x509.X509Certificate;
  readonly keys: KeyPair;
}

/** A CA: its certificate and key pair. */
export type Issuer = CertifiedKeyPair;

export interface RootCaOptions {
  /** Distinguished name, e.g. "CN=Péage Root CA,O=Péage". */
  readonly subject: string;
  readonly keys: KeyPair;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Maximum number of intermediate CAs below this one (RFC 5280 §4.2.1.9); unlimited if absent. */
  readonly pathLength?: number;
  /** If given, the only roles the hierarchy may certify (EKU chaining, see profile.ts). */
  readonly roles?: readonly Role[];
  /** Hexadecimal; a random positive 16-octet serial if absent. */
  readonly serialNumber?: string;
}

export interface CaConstraints {
  readonly pathLength?: number;
  /** Roles this CA may certify; any role if absent. */
  readonly roles?: readonly Role[];
}

export interface IssueOptions {
  readonly issuer: Issuer;
  /** Distinguished name string, or a parsed name whose encoding is kept (e.g. a CSR's). */
  readonly subject: string | x509.Name;
  readonly publicKey: CryptoKey;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Hexadecimal; a random positive 16-octet serial if absent. */
  readonly serialNumber?: string;
  /** Makes the certificate a CA certificate. */
  readonly ca?: CaConstraints;
  /** For a leaf: the role(s) its key may be used for. */
  readonly roles?: readonly Role[];
  /** For a leaf: the holder's identity, written as the subjectAltName URI. */
  readonly identity?: PartyId;
  /** Certificate policy OIDs (RFC 5280 §4.2.1.4, non-critical): e.g. the assurance level of a PC store. */
  readonly policies?: readonly string[];
}

export interface CsrIssueOptions {
  readonly issuer: Issuer;
  readonly csrPem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly serialNumber?: string;
  readonly ca?: CaConstraints;
  readonly roles?: readonly Role[];
  readonly identity?: PartyId;
}

const partyIdRegExp = new RegExp(partyIdPattern);
const caKeyUsage = x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign;

/** A random positive serial of 16 octets: RFC 5280 §4.1.2.2 allows up to 20, CA/B practice wants 64+ bits of entropy. */
export function randomSerialNumber(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  // Clear the sign bit so the INTEGER stays positive and 16 octets long; keep it non-zero.
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01;
  return Buffer.from(bytes).toString("hex");
}

/**
 * Canonical form of a serial number: lower-case hex of its value, in whole octets, without the
 * sign octet DER adds, as @peculiar/x509's `serialNumber` reports it. It must be positive and fit
 * in 20 octets once DER-encoded (RFC 5280 §4.1.2.2).
 */
export function normalizeSerialNumber(serial: string): string {
  if (!/^[0-9a-fA-F]{1,42}$/.test(serial)) throw new TypeError(`serial number ${JSON.stringify(serial)} is not hexadecimal`);
  const value = BigInt(`0x${serial}`);
  if (value === 0n) throw new RangeError("a serial number must be positive (RFC 5280 §4.1.2.2)");
  if (integerContent(value).length > 20)
    throw new RangeError(`serial number ${serial} is longer than 20 octets (RFC 5280 §4.1.2.2)`);
  const hex = value.toString(16);
  return hex.length % 2 ? `0${hex}` : hex;
}

export async function createRootCa(opts: RootCaOptions): Promise<x509.X509Certificate> {
  checkValidity(opts.notBefore, opts.notAfter);
  const extensions = [
    ...caExtensions({ pathLength: opts.pathLength, roles: opts.roles }),
    await x509.SubjectKeyIdentifierExtension.create(opts.keys.publicKey),
    // Optional in a self-signed certificate (§4.2.1.1) but it lets relying parties pick among roots sharing a name.
    await x509.AuthorityKeyIdentifierExtension.create(opts.keys.publicKey),
  ];
  return x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: normalizeSerialNumber(opts.serialNumber ?? randomSerialNumber()),
    name: opts.subject,
    keys: { publicKey: opts.keys.publicKey, privateKey: opts.keys.privateKey },
    notBefore: opts.notBefore,
    notAfter: opts.notAfter,
    extensions,
  });
}

export async function issueCertificate(opts: IssueOptions): Promise<x509.X509Certificate> {
  checkValidity(opts.notBefore, opts.notAfter);
  await checkIssuer(opts.issuer);
  if (opts.ca && (opts.roles || opts.identity)) {
    throw new TypeError("a CA certificate takes its roles from `ca.roles` and carries no identity");
  }
  if (!algorithmOfKey(opts.publicKey)) throw new TypeError("Péage certifies ECDSA P-256 and Ed25519 keys only");
  const profile = opts.ca ? caExtensions(opts.ca) : leafExtensions(opts.roles, opts.identity);
  const extensions = [
    ...profile,
    ...(opts.policies && opts.policies.length > 0 ? [new x509.CertificatePolicyExtension([...opts.policies], false)] : []),
    await x509.SubjectKeyIdentifierExtension.create(opts.publicKey),
    authorityKeyIdentifier(opts.issuer.certificate),
  ];
  return x509.X509CertificateGenerator.create({
    serialNumber: normalizeSerialNumber(opts.serialNumber ?? randomSerialNumber()),
    subject: opts.subject,
    // The issuer's subject, byte for byte, so that name chaining is exact (§4.1.2.4).
    issuer: opts.issuer.certificate.subjectName,
    publicKey: opts.publicKey,
    signingKey: opts.issuer.keys.privateKey,
    notBefore: opts.notBefore,
    notAfter: opts.notAfter,
    extensions,
  });
}

/**
 * Certifies the key of a PKCS#10 request (RFC 2986) after checking its self-signature, which proves
 * the requester holds the private key. Only the subject and key are taken from the request:
 * roles, identity and CA constraints are the issuer's decision, so requested extensions are ignored.
 */
export async function issueFromCsr(opts: CsrIssueOptions): Promise<x509.X509Certificate> {
  const csr = parseCsr(opts.csrPem);
  if (!(await verifyCsr(csr)))
    throw new TypeError(`the signature of the certificate request for ${JSON.stringify(csr.subject)} does not verify`);
  // §4.1.2.6: with an empty subject the identity would have to be a critical subjectAltName.
  if (csr.subjectName.toJSON().length === 0) throw new TypeError("the certificate request has an empty subject name");
  const alg = keyAlgorithmOf(csr);
  if (!alg)
    throw new TypeError(`the certificate request for ${JSON.stringify(csr.subject)} holds neither a P-256 nor an Ed25519 key`);
  const publicKey = await csr.publicKey.export(webCryptoAlgorithm(alg) as EcKeyImportParams, ["verify"]);
  return issueCertificate({
    issuer: opts.issuer,
    subject: csr.subjectName,
    publicKey,
    notBefore: opts.notBefore,
    notAfter: opts.notAfter,
    ...(opts.serialNumber !== undefined && { serialNumber: opts.serialNumber }),
    ...(opts.ca !== undefined && { ca: opts.ca }),
    ...(opts.roles !== undefined && { roles: opts.roles }),
    ...(opts.identity !== undefined && { identity: opts.identity }),
  });
}

/** Creates a PKCS#10 request for a key pair, as a publisher or server would before asking for a certificate. */
export async function createCsr(opts: { subject: string; keys: KeyPair }): Promise<string> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: opts.subject,
    keys: { publicKey: opts.keys.publicKey, privateKey: opts.keys.privateKey },
    signingAlgorithm: opts.keys.alg === "ES256" ? { name: "ECDSA", hash: "SHA-256" } : { name: "Ed25519" },
  });
  return csr.toString("pem");
}

function parseCsr(pem: string): x509.Pkcs10CertificateRequest {
  try {
    return new x509.Pkcs10CertificateRequest(x509.PemConverter.decodeFirst(pem));
  } catch (cause) {
    throw new TypeError(`not a PEM certificate request: ${(cause as Error).message}`);
  }
}

async function verifyCsr(csr: x509.Pkcs10CertificateRequest): Promise<boolean> {
  try {
    return await csr.verify();
  } catch {
    return false;
  }
}

/**
 * CA certificates: basicConstraints critical with cA (§4.2.1.9), keyUsage critical with
 * keyCertSign and cRLSign (§4.2.1.3), and, if limited, the roles it may certify as EKU (§4.2.1.12).
 */
function caExtensions(ca: CaConstraints): x509.Extension[] {
  if (ca.pathLength !== undefined && !(Number.isInteger(ca.pathLength) && ca.pathLength >= 0)) {
    throw new RangeError(`pathLength must be a non-negative integer, not ${ca.pathLength}`);
  }
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(true, ca.pathLength, true),
    new x509.KeyUsagesExtension(caKeyUsage, true),
  ];
  if (ca.roles) extensions.push(extendedKeyUsage(ca.roles));
  return extensions;
}

/**
 * Leaves: basicConstraints cA=false (critical, so no implementation mistakes it for a CA),
 * keyUsage critical digitalSignature only, the roles as a non-critical EKU (§4.2.1.12: critical
 * would bar software that does not know our OIDs), the identity as subjectAltName URI (§4.2.1.6).
 */
function leafExtensions(roles: readonly Role[] | undefined, identity: PartyId | undefined): x509.Extension[] {
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
  ];
  if (roles) extensions.push(extendedKeyUsage(roles));
  if (identity !== undefined && !partyIdRegExp.test(identity))
    throw new TypeError(`${JSON.stringify(identity)} is not a Péage identity (urn:peage:<kind>:<name>)`);
  // §4.2.1.6: the extension is critical only when the subject DN is empty; ours never is.
  if (identity) extensions.push(new x509.SubjectAlternativeNameExtension([{ type: "url", value: identity }], false));
  return extensions;
}

function extendedKeyUsage(roles: readonly Role[]): x509.Extension {
  if (roles.length === 0) throw new RangeError("an extendedKeyUsage extension lists at least one role (RFC 5280 §4.2.1.12)");
  return new x509.ExtendedKeyUsageExtension(
    [...new Set(roles)].map((role) => roleOids[role]),
    false,
  );
}

/** AKI = the issuer's SKI when it has one (§4.2.1.1), so certificates chain to issuers made by other tools. */
function authorityKeyIdentifier(issuer: x509.X509Certificate): x509.Extension {
  const ski = issuer.getExtension(x509.SubjectKeyIdentifierExtension);
  if (ski) return new x509.AuthorityKeyIdentifierExtension(ski.keyId, false);
  throw new TypeError(
    `issuer ${describe(issuer)} has no subjectKeyIdentifier (RFC 5280 §4.2.1.2 requires one in CA certificates)`,
  );
}

/** Refuses to sign with a key pair that is not the one the issuer certificate certifies. */
export async function checkIssuerKey(issuer: Issuer): Promise<void> {
  if (!(await samePublicKey(issuer.keys.publicKey, issuer.certificate.publicKey.rawData))) {
    throw new TypeError(`the issuer key pair is not the one certified by ${describe(issuer.certificate)}`);
  }
}

/** Refuses to issue as an issuer that is not a CA allowed to sign certificates (§4.2.1.3, §4.2.1.9). */
async function checkIssuer(issuer: Issuer): Promise<void> {
  await checkIssuerKey(issuer);
  const constraints = issuer.certificate.getExtension(x509.BasicConstraintsExtension);
  const usage = issuer.certificate.getExtension(x509.KeyUsagesExtension);
  if (!constraints?.ca || !usage || !(usage.usages & x509.KeyUsageFlags.keyCertSign)) {
    throw new TypeError(`${describe(issuer.certificate)} is not a CA certificate with keyCertSign`);
  }
}

function checkValidity(notBefore: Date, notAfter: Date): void {
  if (!(notBefore.getTime() < notAfter.getTime())) throw new RangeError("notBefore must precede notAfter");
}
