/**
 * Revocation for a card, which cannot fetch CRLs: the issuing server names the revoked publisher
 * certificates in its signed SYNC, the card refuses offers signed with them, and every log entry
 * names the certificate that signed its offer, so that the server checks it again at sync against
 * its CRLs (docs/card.md, "Revocation"). A certificate is named by its issuer's name and serial
 * number, which is exactly what a CRL entry says about it (RFC 5280 §5.1.2.3, §5.3).
 */
import { createHash } from "node:crypto";
import { x509 } from "@peage/protocol";
import { MAX_REVOKED, type CertificateId } from "./model.js";

/** The identity of the certificate `serial` issued under `issuer` (CertificateId, model.ts). */
export function certificateIdOf(issuer: x509.Name, serial: string): CertificateId {
  const name = createHash("sha256").update(Buffer.from(issuer.toArrayBuffer())).digest("base64url");
  // Serial numbers are compared as integers: a CRL may encode one with a leading zero byte.
  return `${name}:${BigInt(`0x${serial}`).toString(16)}`;
}

export function certificateId(certificate: x509.X509Certificate): CertificateId {
  return certificateIdOf(certificate.issuerName, certificate.serialNumber);
}

/** Every certificate the CRLs revoke, with the earliest revocation date given for it. */
export function revokedByCrls(crls: readonly x509.X509Crl[]): Map<CertificateId, Date> {
  const revoked = new Map<CertificateId, Date>();
  for (const crl of crls) {
    for (const entry of crl.entries) {
      const id = certificateIdOf(crl.issuerName, entry.serialNumber);
      const earlier = revoked.get(id);
      if (!earlier || entry.revocationDate < earlier) revoked.set(id, entry.revocationDate);
    }
  }
  return revoked;
}

/** The list a SYNC carries: the most recently revoked first, at most MAX_REVOKED, in a stable order. */
export function revokedListForCards(revoked: ReadonlyMap<CertificateId, Date>): CertificateId[] {
  return [...revoked]
    .sort(([a, at], [b, bt]) => bt.getTime() - at.getTime() || (a < b ? -1 : a > b ? 1 : 0))
    .slice(0, MAX_REVOKED)
    .map(([id]) => id)
    .sort();
}
