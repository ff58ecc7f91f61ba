/**
 * The Péage PKI: the certificate profile, issuing certificates and CRLs, and validating the
 * certificate chains that sign messages. `x509` is @peculiar/x509, initialised for Node.
 */
export * from "./profile.js";
export { x509 } from "./x509.js";
export {
  createRootCa,
  issueCertificate,
  issueFromCsr,
  createCsr,
  randomSerialNumber,
  normalizeSerialNumber,
  type CertifiedKeyPair,
  type Issuer,
  type RootCaOptions,
  type CaConstraints,
  type IssueOptions,
  type CsrIssueOptions,
} from "./issue.js";
export {
  createCrl,
  reissueCrl,
  crlNumberOf,
  revokedOf,
  addRevoked,
  revokedToJson,
  revokedFromJson,
  RevocationReasons,
  type RevocationReason,
  type RevokedCertificate,
  type RevokedCertificateJson,
  type CrlOptions,
} from "./crl.js";
export {
  TrustStore,
  DEFAULT_CACHE_SIZE,
  type ValidatedChain,
  type TrustStoreOptions,
  type TrustStoreStats,
  type RevocationPolicy,
} from "./validate.js";
export {
  MAX_CERTIFICATE_SIZE,
  PemLabels,
  parsePem,
  parseCertificatesPem,
  parseCrlsPem,
  parseCertificateDer,
  parseCrlDer,
  certificateToPem,
  certificatesToPem,
  crlToPem,
  toX5c,
  fromX5c,
  type PemBlock,
} from "./pem.js";
export { createDemoPki, x5cChain, DemoSubjects, type DemoPki, type DemoParty, type DemoPkiOptions } from "./demo.js";
export { rolesOf, subjectAltNameUris } from "./certificate.js";
export { writePkiDir, readPkiDir, PkiFiles } from "./directory.js";
