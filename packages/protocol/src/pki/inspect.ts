/**
 * A parsed certificate with the extensions the Péage profile acts on, decoded once. Decoding
 * is where the structural rules of RFC 5280 §4 are enforced: a malformed or duplicated
 * extension, or a critical extension nobody here understands, makes the certificate unusable.
 */
import { fail, ok, type Result } from "../errors.js";
import { ExtensionOids, authorityKeyId, describe, sameName, subjectKeyId } from "./certificate.js";
import { decodeOidSequence, ecdsaSignatureIsStrict, signatureAlgorithmsAgree, signatureBitStringIsCanonical } from "./der.js";
import { x509 } from "./x509.js";

export interface CertificateView {
  readonly cert: x509.X509Certificate;
  /** Canonical base64 of the DER: the x5c form, and the identity of the certificate. */
  readonly x5c: string;
  /** The subject, quoted, for messages. */
  readonly name: string;
  readonly basicConstraints?: { readonly ca: boolean; readonly pathLength?: number };
  readonly keyUsage?: number;
  readonly extendedKeyUsage?: readonly string[];
  /** The URIs of the subjectAltName extension, or undefined when the extension is absent. */
  readonly subjectAltNameUris?: readonly string[];
  readonly subjectKeyId?: string;
  readonly authorityKeyId?: string;
  /** Subject and issuer are the same name (RFC 5280 §6.1: "self-issued"). */
  readonly selfIssued: boolean;
}

/**
 * The extensions a certificate may mark critical here. Anything else critical (name constraints,
 * policy constraints, ...) would need processing this validator does not do, so §4.2 requires
 * rejecting the certificate: "A certificate-using system MUST reject the certificate if it
 * encounters a critical extension it does not recognize or ... cannot process."
 */
const understood = new Set<string>([
  ExtensionOids.basicConstraints,
  ExtensionOids.keyUsage,
  ExtensionOids.extKeyUsage,
  ExtensionOids.subjectAltName,
  ExtensionOids.subjectKeyIdentifier,
  ExtensionOids.authorityKeyIdentifier,
]);

export function inspect(cert: x509.X509Certificate, der: Uint8Array): Result<CertificateView> {
  const name = describe(cert);
  try {
    // §4.1.1.2: signatureAlgorithm MUST be the same as tbsCertificate.signature.
    if (!signatureAlgorithmsAgree(der)) {
      return fail("ERR_MALFORMED", `certificate ${name}: the two signature algorithm fields differ (RFC 5280 §4.1.1.2)`, {
        subject: cert.subject,
      });
    }
    if (!signatureBitStringIsCanonical(der)) {
      return fail("ERR_MALFORMED", `certificate ${name}: the signature BIT STRING has unused bits (X.690 §11.2)`, {
        subject: cert.subject,
      });
    }
    if (!ecdsaSignatureIsStrict(der)) {
      return fail("ERR_MALFORMED", `certificate ${name}: the ECDSA signature is not two minimal DER INTEGERs (RFC 5480 §2.2.3)`, {
        subject: cert.subject,
      });
    }
    const extensions = checkExtensions(cert, name);
    return extensions.ok ? ok(view(cert, der, name)) : extensions;
  } catch (cause) {
    return fail("ERR_MALFORMED", `certificate ${name} has a malformed extension: ${(cause as Error).message}`, {
      subject: cert.subject,
    });
  }
}

function checkExtensions(cert: x509.X509Certificate, name: string): Result<void> {
  const seen = new Set<string>();
  const subject = { subject: cert.subject };
  for (const extension of cert.extensions) {
    // §4.2: "A certificate MUST NOT include more than one instance of a particular extension."
    if (seen.has(extension.type))
      return fail("ERR_MALFORMED", `certificate ${name}: extension ${extension.type} appears twice (RFC 5280 §4.2)`, subject);
    seen.add(extension.type);
    if (extension.critical && !understood.has(extension.type))
      return fail(
        "ERR_MALFORMED",
        `certificate ${name}: unrecognized critical extension ${extension.type} (RFC 5280 §4.2)`,
        subject,
      );
  }
  return ok(undefined);
}

function view(cert: x509.X509Certificate, der: Uint8Array, name: string): CertificateView {
  const basic = cert.getExtension(x509.BasicConstraintsExtension);
  const usage = cert.getExtension(x509.KeyUsagesExtension);
  // Decoded here rather than by the library, which mangles the 128-bit arc of the Péage OIDs.
  const eku = cert.extensions.find((extension) => extension.type === ExtensionOids.extKeyUsage);
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const ski = subjectKeyId(cert);
  const aki = authorityKeyId(cert);
  return {
    cert,
    x5c: Buffer.from(der).toString("base64"),
    name,
    ...(basic && { basicConstraints: { ca: basic.ca, ...(basic.pathLength !== undefined && { pathLength: basic.pathLength }) } }),
    ...(usage && { keyUsage: usage.usages }),
    ...(eku && { extendedKeyUsage: decodeOidSequence(new Uint8Array(eku.value)) }),
    ...(san && { subjectAltNameUris: san.names.items.filter((item) => item.type === "url").map((item) => item.value) }),
    ...(ski !== undefined && { subjectKeyId: ski }),
    ...(aki !== undefined && { authorityKeyId: aki }),
    selfIssued: sameName(cert.subjectName, cert.issuerName),
  };
}

/**
 * Whether `issuer` may have issued `child`: the issuer name equals the issuer's subject (§4.1.2.4)
 * and, when both key identifiers are present, the AKI names the issuer's key (§4.2.1.1).
 */
export function mayHaveIssued(issuer: CertificateView, child: CertificateView): boolean {
  if (!sameName(child.cert.issuerName, issuer.cert.subjectName)) return false;
  return child.authorityKeyId === undefined || issuer.subjectKeyId === undefined || child.authorityKeyId === issuer.subjectKeyId;
}
