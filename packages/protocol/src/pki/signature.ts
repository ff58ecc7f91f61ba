/**
 * Signature checks on certificates and CRLs under an issuer's key, restricted to the Péage
 * algorithms: ecdsa-with-SHA256 under a P-256 key, Ed25519 under an Ed25519 key.
 */
import { fail, ok, type Result } from "../errors.js";
import type { SignatureAlgorithm } from "../keys.js";
import { importCertifiedKey, signatureAlgorithmOf } from "./certificate.js";
import type { CertificateView } from "./inspect.js";
import { x509 } from "./x509.js";

export interface IssuerKey {
  readonly alg: SignatureAlgorithm;
  readonly publicKey: CryptoKey;
}

/** Imports the key of a certificate used as an issuer, or fails ERR_UNSUPPORTED_ALGORITHM. */
export async function issuerKeyOf(issuer: CertificateView): Promise<Result<IssuerKey>> {
  const key = await importCertifiedKey(issuer.cert);
  return key
    ? ok(key)
    : fail("ERR_UNSUPPORTED_ALGORITHM", `CA certificate ${issuer.name} holds neither a P-256 nor an Ed25519 key`, {
        subject: issuer.cert.subject,
      });
}

/** Checks that `signed` (a certificate or CRL, described by `what`) verifies under the issuer's key. */
export async function checkSignature(
  signed: x509.X509Certificate | x509.X509Crl,
  what: string,
  issuer: CertificateView,
  key: IssuerKey,
): Promise<Result<void>> {
  const alg = signatureAlgorithmOf(signed);
  if (!alg) return fail("ERR_UNSUPPORTED_ALGORITHM", `${what} is signed with an algorithm other than ES256 or EdDSA`);
  // A signature in another algorithm than the issuer's key never verifies under it (an Ed25519
  // signature under a P-256 key): one rule with the signature check, not tried with the wrong key.
  const sameAlgorithm = alg === key.alg;
  let valid = false;
  try {
    // Validity dates are the path rules' business (and inclusive, unlike the library's check).
    valid =
      sameAlgorithm &&
      (signed instanceof x509.X509Certificate
        ? await signed.verify({ publicKey: key.publicKey, signatureOnly: true })
        : await signed.verify({ publicKey: key.publicKey }));
  } catch {
    valid = false;
  }
  const why = sameAlgorithm ? "does not verify" : `is ${alg}, not the ${key.alg} of the key`;
  return valid
    ? ok(undefined)
    : fail("ERR_BAD_SIGNATURE", `the signature of ${what} ${why} of ${issuer.name}`, { issuer: issuer.cert.subject });
}
