/**
 * Revocation checking against the CRLs a trust store holds (RFC 5280 §6.3, simplified to complete
 * CRLs issued by the certificate's own issuer: no delta CRLs, distribution points or indirect CRLs).
 */
import { fail, ok, type Result } from "../errors.js";
import { ExtensionOids, authorityKeyId, hex, nameBytes, sameName } from "./certificate.js";
import { crlNumberOf } from "./crl.js";
import type { CertificateView } from "./inspect.js";
import { checkSignature, type IssuerKey } from "./signature.js";
import { x509 } from "./x509.js";

export type RevocationPolicy = "best-effort" | "require";

/** CRL extensions (§5.2) and entry extensions (§5.3) this checker understands when critical. */
const understoodCrlExtensions = new Set<string>([ExtensionOids.authorityKeyIdentifier, ExtensionOids.cRLNumber]);
const understoodEntryExtensions = new Set<string>([ExtensionOids.cRLReason, ExtensionOids.invalidityDate]);

/** A CRL as the store keeps it: indexed by issuer, with anything that makes it unusable found up front. */
export class StoredCrl {
  /** Issuer name and key identifier: a newer CRL of the same issuer replaces this one. */
  readonly key: string;
  readonly authorityKeyId: string | undefined;
  readonly number: bigint | undefined;
  /** Why this CRL cannot be used to decide revocation, if it cannot. */
  readonly problem: string | undefined;
  /** Signature check outcomes by issuer certificate, so a CRL is verified once per issuer. */
  readonly #verified = new Map<string, Promise<Result<void>>>();

  constructor(readonly crl: x509.X509Crl) {
    let aki: string | undefined;
    let number: bigint | undefined;
    let problem: string | undefined;
    try {
      aki = authorityKeyId(crl);
      number = crlNumberOf(crl);
      problem = unusable(crl);
    } catch (cause) {
      problem = `it is malformed: ${(cause as Error).message}`;
    }
    this.authorityKeyId = aki;
    this.number = number;
    this.problem = problem;
    this.key = `${hex(nameBytes(crl.issuerName))}/${aki ?? ""}`;
  }

  /** Whether this CRL is newer than `other` (same issuer): higher cRLNumber (§5.2.3), else later thisUpdate. */
  supersedes(other: StoredCrl): boolean {
    if (this.number !== undefined && other.number !== undefined && this.number !== other.number)
      return this.number > other.number;
    return this.crl.thisUpdate.getTime() > other.crl.thisUpdate.getTime();
  }

  /** Whether this CRL was issued by `issuer`: same name (§5.1.2.3) and, if both are present, AKI = SKI (§5.2.1). */
  issuedBy(issuer: CertificateView): boolean {
    if (!sameName(this.crl.issuerName, issuer.cert.subjectName)) return false;
    return this.authorityKeyId === undefined || issuer.subjectKeyId === undefined || this.authorityKeyId === issuer.subjectKeyId;
  }

  verifiedBy(issuer: CertificateView, key: IssuerKey): Promise<Result<void>> {
    let outcome = this.#verified.get(issuer.x5c);
    if (!outcome) {
      outcome = checkSignature(this.crl, `the CRL of ${issuer.name}`, issuer, key);
      this.#verified.set(issuer.x5c, outcome);
    }
    return outcome;
  }
}

/** The reason a CRL cannot be relied on, if any (§5.2, §5.3: unknown critical extensions; §5.1.2.5: no nextUpdate). */
function unusable(crl: x509.X509Crl): string | undefined {
  const extension = crl.extensions.find((item) => item.critical && !understoodCrlExtensions.has(item.type));
  if (extension) return `it has the critical extension ${extension.type}, which this checker does not process (RFC 5280 §5.2)`;
  for (const entry of crl.entries) {
    const critical = entry.extensions.find((item) => item.critical && !understoodEntryExtensions.has(item.type));
    if (critical) return `its entry for serial ${entry.serialNumber} has the critical extension ${critical.type} (RFC 5280 §5.3)`;
  }
  if (!crl.nextUpdate) return "it has no nextUpdate (RFC 5280 §5.1.2.5)";
  return undefined;
}

export interface PathNode {
  readonly view: CertificateView;
  /** The certified key, for every certificate used as an issuer. */
  readonly key?: IssuerKey;
}

/** A certificate of the path above the leaf: its key was imported to check what it signed. */
export type IssuerNode = PathNode & { readonly key: IssuerKey };

/** A built path: the leaf, then its issuers up to the trust anchor. */
export type CertificationPath = readonly [PathNode, ...IssuerNode[]];

/**
 * Checks every certificate of the path but the trust anchor against its issuer's CRL. Returns the
 * earliest nextUpdate of the CRLs used (ms, Infinity if none): past it, the answer may change.
 */
export async function checkRevocation(
  path: CertificationPath,
  crls: readonly StoredCrl[],
  policy: RevocationPolicy,
  at: Date,
): Promise<Result<number>> {
  let until = Number.POSITIVE_INFINITY;
  const [, ...issuers] = path;
  for (const [i, issuer] of issuers.entries()) {
    const subject = path[i]!.view;
    const crl = findCrl(crls, issuer.view);
    if (!crl) {
      if (policy === "require")
        return fail("ERR_REVOCATION_UNKNOWN", `no CRL from ${issuer.view.name} to check ${subject.name} against`, {
          subject: subject.cert.subject,
        });
      continue;
    }
    const status = await statusOf(subject, issuer, crl, at);
    if (!status.ok) return status;
    until = Math.min(until, status.value);
  }
  return ok(until);
}

/** A CRL of this issuer, preferring one whose AKI names the issuer's key exactly. */
function findCrl(crls: readonly StoredCrl[], issuer: CertificateView): StoredCrl | undefined {
  const candidates = crls.filter((crl) => crl.issuedBy(issuer));
  return (
    candidates.find((crl) => crl.authorityKeyId !== undefined && crl.authorityKeyId === issuer.subjectKeyId) ?? candidates[0]
  );
}

async function statusOf(subject: CertificateView, issuer: IssuerNode, stored: StoredCrl, at: Date): Promise<Result<number>> {
  const detail = { subject: subject.cert.subject, serialNumber: subject.cert.serialNumber };
  const crlName = `the CRL of ${issuer.view.name}`;
  if (stored.problem)
    return fail("ERR_REVOCATION_UNKNOWN", `${crlName} cannot be used to check ${subject.name}: ${stored.problem}`, detail);
  // §6.3.3 (f): the CRL issuer's key must be allowed to sign CRLs.
  if (issuer.view.keyUsage !== undefined && !(issuer.view.keyUsage & x509.KeyUsageFlags.cRLSign)) {
    return fail(
      "ERR_REVOCATION_UNKNOWN",
      `${issuer.view.name} may not sign CRLs (keyUsage lacks cRLSign), so ${crlName} cannot be used`,
      detail,
    );
  }
  const signature = await stored.verifiedBy(issuer.view, issuer.key);
  if (!signature.ok) return signature;
  const nextUpdate = stored.crl.nextUpdate!.getTime();
  // §6.3.3 (a)(2): a CRL past its nextUpdate no longer says anything about the present.
  if (nextUpdate < at.getTime()) {
    return fail(
      "ERR_REVOCATION_UNKNOWN",
      `${crlName} is stale: its nextUpdate ${stored.crl.nextUpdate!.toISOString()} is before ${at.toISOString()}`,
      detail,
    );
  }
  const entry = stored.crl.findRevoked(subject.cert);
  if (entry) {
    const reason = entry.reason === undefined ? undefined : x509.X509CrlReason[entry.reason];
    return fail(
      "ERR_REVOKED",
      `certificate ${subject.name} (serial ${subject.cert.serialNumber}) was revoked by ${issuer.view.name} on ${entry.revocationDate.toISOString()}${reason ? ` (${reason})` : ""}`,
      {
        ...detail,
        revocationDate: entry.revocationDate.toISOString(),
        ...(reason && { reason }),
      },
    );
  }
  return ok(nextUpdate);
}
