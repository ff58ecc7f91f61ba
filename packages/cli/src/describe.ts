/**
 * Readable views of certificates, CRLs and prices, for the human output and the --json output
 * of the commands. Nothing here decides trust: it only says what a file contains.
 */
import { X509Certificate as NodeCertificate, createHash, createPublicKey } from "node:crypto";
import { algorithmOfKey, formatPrice, isCurrencyCode, isMinorUnits, roleOfOid, x509, type Price } from "@peage/protocol";

export interface CertificateInfo {
  readonly subject: string;
  readonly issuer: string;
  readonly serialNumber: string;
  readonly notBefore: string;
  readonly notAfter: string;
  /** Present for CA certificates; pathLength when the CA limits the intermediates below it. */
  readonly ca?: { readonly pathLength?: number };
  /** Péage roles of the extendedKeyUsage (for a CA: the roles it may certify); other OIDs as they are. */
  readonly roles: readonly string[];
  /** subjectAltName URIs: a Péage leaf has exactly one, its party identity. */
  readonly identities: readonly string[];
  readonly keyAlgorithm: string;
  readonly sha256: string;
}

/** The roles (RFC 5280 §4.2.1.12 extendedKeyUsage) a certificate lists, by Péage name when known. */
export function rolesOf(cert: x509.X509Certificate): string[] {
  // Read through OpenSSL: the OIDs of the Péage arc have a 128-bit component.
  const oids = new NodeCertificate(Buffer.from(cert.rawData)).keyUsage ?? [];
  return oids.map((oid) => roleOfOid(oid) ?? oid);
}

/** The subjectAltName URIs of a certificate: a Péage leaf has one, its party identity. */
export function identitiesOf(cert: x509.X509Certificate): string[] {
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  return san ? san.names.items.filter((item) => item.type === "url").map((item) => item.value) : [];
}

/** Whether basicConstraints says cA (RFC 5280 §4.2.1.9). */
export function isCaCertificate(cert: x509.X509Certificate): boolean {
  return cert.getExtension(x509.BasicConstraintsExtension)?.ca === true;
}

/** What a certificate says, for display and --json; not a judgement of whether it is valid. */
export function certificateInfo(cert: x509.X509Certificate): CertificateInfo {
  const constraints = cert.getExtension(x509.BasicConstraintsExtension);
  let keyAlgorithm = "unknown";
  try {
    const key = createPublicKey({ key: Buffer.from(cert.publicKey.rawData), format: "der", type: "spki" });
    keyAlgorithm = algorithmOfKey(key) ?? key.asymmetricKeyType ?? "unknown";
  } catch {
    // Left "unknown": the chain validation reports an unusable key with its own code.
  }
  return {
    subject: cert.subject,
    issuer: cert.issuer,
    serialNumber: cert.serialNumber.toLowerCase(),
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
    ...(constraints?.ca && { ca: constraints.pathLength === undefined ? {} : { pathLength: constraints.pathLength } }),
    roles: rolesOf(cert),
    identities: identitiesOf(cert),
    keyAlgorithm,
    sha256: createHash("sha256").update(new Uint8Array(cert.rawData)).digest("hex"),
  };
}

/** Indented lines describing a certificate. */
export function certificateLines(info: CertificateInfo, indent = "  "): string[] {
  const kind = info.ca ? `CA${info.ca.pathLength === undefined ? "" : `, pathLength ${info.ca.pathLength}`}` : "end entity";
  return [
    `${indent}subject:    ${info.subject}`,
    `${indent}issuer:     ${info.issuer}`,
    `${indent}serial:     ${info.serialNumber}`,
    `${indent}valid:      ${info.notBefore} to ${info.notAfter}`,
    `${indent}kind:       ${kind}`,
    ...(info.roles.length > 0 ? [`${indent}${(info.ca ? "certifies:" : "roles:").padEnd(11)} ${info.roles.join(", ")}`] : []),
    ...(info.identities.length > 0 ? [`${indent}identity:   ${info.identities.join(", ")}`] : []),
    `${indent}key:        ${info.keyAlgorithm}`,
    `${indent}sha-256:    ${info.sha256}`,
  ];
}

export interface CrlInfo {
  readonly issuer: string;
  readonly thisUpdate: string;
  readonly nextUpdate?: string;
  readonly crlNumber?: string;
  readonly revoked: readonly { serialNumber: string; revocationDate: string; reason?: string }[];
}

/** What a CRL says, for display and --json. */
export function crlInfo(crl: x509.X509Crl, crlNumber: bigint | undefined): CrlInfo {
  return {
    issuer: crl.issuer,
    thisUpdate: crl.thisUpdate.toISOString(),
    ...(crl.nextUpdate && { nextUpdate: crl.nextUpdate.toISOString() }),
    ...(crlNumber !== undefined && { crlNumber: crlNumber.toString() }),
    revoked: crl.entries.map((entry) => ({
      serialNumber: entry.serialNumber.toLowerCase(),
      revocationDate: entry.revocationDate.toISOString(),
      ...(entry.reason !== undefined && { reason: x509.X509CrlReason[entry.reason] ?? String(entry.reason) }),
    })),
  };
}

/** A price for readers ("1.50 EUR"); anything that is not a valid price is shown as JSON. */
export function showPrice(value: unknown): string {
  const p = value as Partial<Price> | undefined;
  if (p && isMinorUnits(p.amount) && isCurrencyCode(p.currency)) return formatPrice(p as Price);
  return JSON.stringify(value);
}

/** What a grant gives, for readers. */
export function showGrant(value: unknown): string {
  const grant = value as { kind?: unknown; seconds?: unknown; event?: unknown } | undefined;
  if (grant?.kind === "launch") return "one launch";
  if (grant?.kind === "period" && typeof grant.seconds === "number") return `a period of ${showDuration(grant.seconds)}`;
  if (grant?.kind === "event" && typeof grant.event === "string") return `the event "${grant.event}"`;
  return JSON.stringify(value);
}

function showDuration(seconds: number): string {
  const units: [number, string][] = [
    [86_400, "day"],
    [3_600, "hour"],
    [60, "minute"],
  ];
  for (const [size, unit] of units) {
    if (seconds % size === 0) return `${seconds / size} ${unit}${seconds / size === 1 ? "" : "s"}`;
  }
  return `${seconds} second${seconds === 1 ? "" : "s"}`;
}

/** Aligned "key: value" lines. */
export function fields(entries: readonly (readonly [string, unknown])[], indent = "  "): string[] {
  const present = entries.filter(([, value]) => value !== undefined);
  const width = Math.max(0, ...present.map(([key]) => key.length + 1));
  return present.map(
    ([key, value]) => `${indent}${`${key}:`.padEnd(width)} ${typeof value === "string" ? value : JSON.stringify(value)}`,
  );
}
