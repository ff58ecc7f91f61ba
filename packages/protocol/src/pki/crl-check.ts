/**
 * A CRL checked on its own, before something uses it outside a chain's validation (a card desk's
 * list of revoked certificates; TrustStore.checkCrl): the checks a chain's validation makes
 * (revocation.ts checkCrlOf: usable, cRLSign, the issuer's signature, not stale), plus not valid
 * yet, against each candidate issuer the trust store knows. Not a rule of a message or chain, so
 * outside the vectors' mutation check; test/pki-crl-check.test.ts pins each rule.
 */
import { fail, ok, type Result } from "../errors.js";
import { StoredCrl, checkCrlOf, type IssuerNode } from "./revocation.js";
import type { x509 } from "./x509.js";

/** Whether `crl` can be relied on at `at`, issued by one of `issuers` (anchors and known CAs, with their keys). */
export async function checkCrlAlone(crl: x509.X509Crl, at: Date, issuers: readonly IssuerNode[]): Promise<Result<void>> {
  const stored = new StoredCrl(crl);
  const issuerName = JSON.stringify(crl.issuer);
  if (crl.thisUpdate.getTime() > at.getTime())
    return fail(
      "ERR_REVOCATION_UNKNOWN",
      `the CRL of ${issuerName} is not valid yet: its thisUpdate is ${crl.thisUpdate.toISOString()}`,
    );
  let failure: Result<never> | undefined;
  for (const issuer of issuers.filter((node) => stored.issuedBy(node.view))) {
    const checked = await checkCrlOf(stored, issuer, at, "on its own");
    if (checked.ok) return ok(undefined);
    failure = checked;
  }
  if (failure) return failure;
  return fail(
    "ERR_UNKNOWN_ISSUER",
    `no trusted certificate of ${issuerName} is known to check its CRL against: give its certificate chain, or trust its root`,
  );
}
