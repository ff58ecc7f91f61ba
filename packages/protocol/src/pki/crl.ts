/**
 * Certificate revocation lists (RFC 5280 §5): issuing them, and the revoked-certificate list
 * a CA keeps between issues (the CLI stores it as JSON next to the CA's key). A CA re-issues its
 * CRL with the full list and a higher cRLNumber each time; relying parties keep the newest.
 */
import { ExtensionOids, describe } from "./certificate.js";
import { decodeNonNegativeInteger, encodeInteger } from "./der.js";
import { checkIssuerKey, normalizeSerialNumber, type Issuer } from "./issue.js";
import { x509 } from "./x509.js";

/** CRL reason codes (RFC 5280 §5.3.1), by name; removeFromCRL only exists in delta CRLs, which Péage does not use. */
export const RevocationReasons = [
  "unspecified",
  "keyCompromise",
  "cACompromise",
  "affiliationChanged",
  "superseded",
  "cessationOfOperation",
  "certificateHold",
  "privilegeWithdrawn",
  "aACompromise",
] as const;
export type RevocationReason = (typeof RevocationReasons)[number];

export interface RevokedCertificate {
  /** Hexadecimal serial number of the revoked certificate. */
  readonly serialNumber: string;
  readonly revocationDate: Date;
  readonly reason?: RevocationReason;
}

/** The JSON form of a revoked-certificate list entry. */
export interface RevokedCertificateJson {
  readonly serialNumber: string;
  readonly revocationDate: string;
  readonly reason?: RevocationReason;
}

export interface CrlOptions {
  readonly issuer: Issuer;
  readonly revoked: readonly RevokedCertificate[];
  readonly thisUpdate: Date;
  /** RFC 5280 §5.1.2.5: conforming CRL issuers MUST include nextUpdate. */
  readonly nextUpdate: Date;
  /** Monotonically increasing per CA (RFC 5280 §5.2.3). */
  readonly crlNumber: number | bigint;
}

/** Signs a v2 CRL with the authorityKeyIdentifier (§5.2.1) and cRLNumber (§5.2.3) extensions, both required. */
export async function createCrl(opts: CrlOptions): Promise<x509.X509Crl> {
  if (!(opts.thisUpdate.getTime() < opts.nextUpdate.getTime())) throw new RangeError("thisUpdate must precede nextUpdate");
  await checkCrlIssuer(opts.issuer);
  const ski = opts.issuer.certificate.getExtension(x509.SubjectKeyIdentifierExtension);
  if (!ski) throw new TypeError(`CRL issuer ${describe(opts.issuer.certificate)} has no subjectKeyIdentifier`);
  const entries = normalizeRevoked(opts.revoked);
  return x509.X509CrlGenerator.create({
    // The issuer's subject, byte for byte, so the CRL matches the certificates it covers (§5.1.2.3).
    issuer: opts.issuer.certificate.subjectName,
    thisUpdate: opts.thisUpdate,
    nextUpdate: opts.nextUpdate,
    signingKey: opts.issuer.keys.privateKey,
    signingAlgorithm: opts.issuer.keys.alg === "ES256" ? { name: "ECDSA", hash: "SHA-256" } : { name: "Ed25519" },
    extensions: [new x509.AuthorityKeyIdentifierExtension(ski.keyId, false), crlNumberExtension(opts.crlNumber)],
    entries: entries.map((entry) => ({
      serialNumber: entry.serialNumber,
      revocationDate: entry.revocationDate,
      // §5.3.1: the reason code "unspecified" SHOULD be absent; the generator omits 0.
      ...(entry.reason !== undefined && { reason: x509.X509CrlReason[entry.reason] }),
    })),
  });
}

/** The cRLNumber of a CRL (RFC 5280 §5.2.3), or undefined if it has none. */
export function crlNumberOf(crl: x509.X509Crl): bigint | undefined {
  const extension = crl.getExtension(ExtensionOids.cRLNumber);
  return extension ? decodeNonNegativeInteger(new Uint8Array(extension.value)) : undefined;
}

/** The entries of an existing CRL, to extend it when revoking one more certificate. */
export function revokedOf(crl: x509.X509Crl): RevokedCertificate[] {
  return crl.entries.map((entry) => {
    const reason = entry.reason === undefined ? undefined : reasonName(entry.reason);
    return {
      serialNumber: normalizeSerialNumber(entry.serialNumber),
      revocationDate: entry.revocationDate,
      ...(reason && { reason }),
    };
  });
}

/**
 * Adds a revocation to a list, returning a new list. Revoking an already revoked serial keeps the
 * first entry: the original revocation date is what relying parties have already seen.
 */
export function addRevoked(list: readonly RevokedCertificate[], entry: RevokedCertificate): RevokedCertificate[] {
  const serialNumber = normalizeSerialNumber(entry.serialNumber);
  if (list.some((existing) => normalizeSerialNumber(existing.serialNumber) === serialNumber)) return [...list];
  return [...list, { ...entry, serialNumber }];
}

/** Issues the next CRL of a CA: the previous CRL's entries plus `revoke`, with cRLNumber one higher. */
export async function reissueCrl(opts: {
  readonly issuer: Issuer;
  readonly previous?: x509.X509Crl;
  readonly revoke?: readonly RevokedCertificate[];
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
}): Promise<x509.X509Crl> {
  let revoked = opts.previous ? revokedOf(opts.previous) : [];
  for (const entry of opts.revoke ?? []) revoked = addRevoked(revoked, entry);
  const previousNumber = opts.previous ? (crlNumberOf(opts.previous) ?? 0n) : -1n;
  return createCrl({ ...opts, revoked, crlNumber: previousNumber + 1n });
}

export function revokedToJson(list: readonly RevokedCertificate[]): RevokedCertificateJson[] {
  return list.map((entry) => ({
    serialNumber: normalizeSerialNumber(entry.serialNumber),
    revocationDate: entry.revocationDate.toISOString(),
    ...(entry.reason !== undefined && { reason: entry.reason }),
  }));
}

/** Reads a revoked-certificate list back from JSON; throws TypeError naming the first bad entry. */
export function revokedFromJson(value: unknown): RevokedCertificate[] {
  if (!Array.isArray(value)) throw new TypeError("a revoked-certificate list is a JSON array");
  return value.map((item: unknown, index) => {
    const where = `revoked-certificate list entry ${index}`;
    if (typeof item !== "object" || item === null) throw new TypeError(`${where} is not an object`);
    const { serialNumber, revocationDate, reason } = item as Record<string, unknown>;
    if (typeof serialNumber !== "string") throw new TypeError(`${where}: serialNumber is not a string`);
    const date = typeof revocationDate === "string" ? new Date(revocationDate) : undefined;
    if (!date || Number.isNaN(date.getTime())) throw new TypeError(`${where}: revocationDate is not a date`);
    if (reason !== undefined && !(RevocationReasons as readonly unknown[]).includes(reason)) {
      throw new TypeError(`${where}: unknown reason ${JSON.stringify(reason)}`);
    }
    return {
      serialNumber: normalizeSerialNumber(serialNumber),
      revocationDate: date,
      ...(reason !== undefined && { reason: reason as RevocationReason }),
    };
  });
}

function normalizeRevoked(list: readonly RevokedCertificate[]): RevokedCertificate[] {
  const seen = new Set<string>();
  return list.map((entry) => {
    const serialNumber = normalizeSerialNumber(entry.serialNumber);
    // §5.1.2.6 lists each revoked certificate once.
    if (seen.has(serialNumber)) throw new RangeError(`serial number ${serialNumber} is listed twice`);
    seen.add(serialNumber);
    return { ...entry, serialNumber };
  });
}

function crlNumberExtension(value: number | bigint): x509.Extension {
  const number = BigInt(value);
  if (number < 0n) throw new RangeError("a cRLNumber is non-negative (RFC 5280 §5.2.3)");
  const encoded = encodeInteger(number);
  // §5.2.3: at most 20 octets of content; non-critical.
  if (encoded.length > 22) throw new RangeError("a cRLNumber is at most 20 octets (RFC 5280 §5.2.3)");
  return new x509.Extension(ExtensionOids.cRLNumber, false, encoded);
}

function reasonName(code: x509.X509CrlReason): RevocationReason | undefined {
  const name = x509.X509CrlReason[code];
  return (RevocationReasons as readonly string[]).includes(name ?? "") ? (name as RevocationReason) : undefined;
}

/** Signs only with the issuer certificate's own key, and only as a CA allowed to sign CRLs (§4.2.1.3 cRLSign). */
async function checkCrlIssuer(issuer: Issuer): Promise<void> {
  await checkIssuerKey(issuer);
  const usage = issuer.certificate.getExtension(x509.KeyUsagesExtension);
  if (usage && !(usage.usages & x509.KeyUsageFlags.cRLSign)) {
    throw new TypeError(`${describe(issuer.certificate)} may not sign CRLs: its keyUsage lacks cRLSign`);
  }
}
