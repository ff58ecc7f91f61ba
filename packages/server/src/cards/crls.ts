/**
 * The CRLs the card desk goes by (the revoked certificates it sends cards in a SYNC, and the
 * publishers whose payments it does not book): each checked before use by the trust store's own
 * CRL verification (TrustStore.checkCrl: the issuer's signature, cRLSign, the dates), once per CRL.
 * A CRL that fails is refused, said in the log with the reason, and the one of its issuer in force
 * before stays in force: a forged or damaged CRL can neither revoke nor un-revoke anything.
 */
import { createHash } from "node:crypto";
import { crlNumberOf, x509, type TrustStore } from "@peage/protocol";

export interface CrlRefusal {
  readonly issuer: string;
  readonly thisUpdate: string;
  readonly reason: string;
}

interface Kept {
  readonly crl: x509.X509Crl;
  readonly fingerprint: string;
}

const fingerprintOf = (crl: x509.X509Crl) => createHash("sha256").update(Buffer.from(crl.rawData)).digest("hex");

/** Whether `crl` is newer than `other` of the same issuer: higher cRLNumber, else later thisUpdate. */
function newer(crl: x509.X509Crl, other: x509.X509Crl): boolean {
  const [a, b] = [crlNumberOf(crl), crlNumberOf(other)];
  if (a !== undefined && b !== undefined && a !== b) return a > b;
  return crl.thisUpdate.getTime() > other.thisUpdate.getTime();
}

export class DeskCrls {
  /** By issuer name: the CRL in force. */
  readonly #kept = new Map<string, Kept>();
  /** Fingerprints of CRLs refused, with why, so each is said once (each is checked again: an issuer may become known). */
  readonly #refused = new Map<string, CrlRefusal>();

  constructor(private readonly log?: (fields: object, message: string) => void) {}

  /** The CRLs in force at `at`, after checking those of the trust store not checked yet. */
  async inForce(trust: TrustStore, at: Date): Promise<x509.X509Crl[]> {
    for (const crl of trust.crls) {
      const fingerprint = fingerprintOf(crl);
      const kept = this.#kept.get(crl.issuer);
      if (kept?.fingerprint === fingerprint) continue;
      if (kept && !newer(crl, kept.crl)) continue;
      const checked = await trust.checkCrl(crl, at);
      if (checked.ok) {
        this.#kept.set(crl.issuer, { crl, fingerprint });
        this.#refused.delete(fingerprint);
        continue;
      }
      const refusal = { issuer: crl.issuer, thisUpdate: crl.thisUpdate.toISOString(), reason: checked.error.message };
      const said = this.#refused.has(fingerprint);
      this.#refused.set(fingerprint, refusal);
      if (said) continue;
      this.log?.(
        { ...refusal, code: checked.error.code, inForce: kept?.crl.thisUpdate.toISOString() ?? null },
        kept
          ? "the card desk refuses a CRL and keeps the one in force: fetch a genuine CRL from its issuer"
          : "the card desk refuses a CRL and has none of its issuer: fetch a genuine CRL from its issuer",
      );
    }
    return [...this.#kept.values()].map((kept) => kept.crl);
  }

  /** The CRLs refused so far, with why. */
  refusals(): CrlRefusal[] {
    return [...this.#refused.values()];
  }
}
