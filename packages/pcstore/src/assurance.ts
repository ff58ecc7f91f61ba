/**
 * Assurance levels of a PC store, as its certificate states them (a certificate policy under the
 * project's OID arc, beside the card-acknowledgment role every offline acknowledgment signer has,
 * so merchants check a PC store's acknowledgments exactly as a card's), and the limits an issuer
 * applies to each: what a device may hold and spend between syncs, lower for a weaker device, as
 * the digital euro's offline functionality plans holding limits per device.
 */
import { PEAGE_OID_ARC, x509 } from "@peage/protocol";

export type AssuranceLevel = "pc-tpm" | "pc-software";

export const assuranceOids: Readonly<Record<AssuranceLevel, string>> = {
  /** Key non-exportable in a TPM 2.0, files anchored by its monotonic counter. */
  "pc-tpm": `${PEAGE_OID_ARC}.3.1`,
  /** Key and files on the disk only, protected by fragmentation. */
  "pc-software": `${PEAGE_OID_ARC}.3.2`,
};

/** Per level, in minor units: the most a prepaid store may hold, the highest postpaid ceiling. */
export interface AssuranceLimits {
  readonly maxBalance: number;
  readonly maxCeiling: number;
}

export const defaultLimits: Readonly<Record<AssuranceLevel, AssuranceLimits>> = {
  "pc-tpm": { maxBalance: 15_000, maxCeiling: 15_000 },
  "pc-software": { maxBalance: 2_000, maxCeiling: 2_000 },
};

/**
 * The level a certificate states; undefined for a smart card (no PC-store policy). Compared as
 * DER: the x509 library prints arcs as long as the project's UUID arc in a form of its own.
 */
export function assuranceOf(certificate: x509.X509Certificate): AssuranceLevel | undefined {
  const extension = certificate.getExtension(x509.CertificatePolicyExtension);
  if (!extension) return undefined;
  const value = Buffer.from(extension.value);
  return (Object.keys(assuranceOids) as AssuranceLevel[]).find((level) =>
    value.equals(Buffer.from(policyExtension(level).value)),
  );
}

/** The certificatePolicies extension (RFC 5280 §4.2.1.4) stating one level, non-critical. */
export function policyExtension(level: AssuranceLevel): x509.CertificatePolicyExtension {
  return new x509.CertificatePolicyExtension([assuranceOids[level]], false);
}
