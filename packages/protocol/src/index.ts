/**
 * @peage/protocol: the three Péage messages, their canonical hashing and JWS signatures, and the
 * X.509 certificate profile with chain validation. docs/protocol.md is the specification.
 */
export {
  isVerificationCode,
  PeageError,
  VerificationCodes,
  type VerificationCode,
  type ProtocolErrorCode,
  VerificationError,
  type Result,
  ok,
  err,
  fail,
} from "./errors.js";
export {
  isCurrencyCode,
  parseCurrency,
  exponentOf,
  isMinorUnits,
  minorUnits,
  price,
  samePrice,
  parseDecimal,
  formatMinorUnits,
  formatPrice,
  type CurrencyCode,
  type MinorUnits,
  type Price,
  MoneyError,
} from "./money.js";
export { isTimestamp, timestamp, toDate, type Timestamp, type Clock, systemClock, FixedClock } from "./time.js";
export { newNonce, newId, newOrderedId, noncePattern } from "./nonce.js";
export { isPartyId, partyId, PartyKinds, type PartyKind, type PartyId, partyIdPattern } from "./identity.js";
export { canonicalBytes, sha256Base64url, canonicalHash } from "./canonical.js";
export { parseStrictJson, tryParseStrictJson, StrictJsonError, DuplicateMemberError } from "./strict-json.js";
export {
  isSignatureAlgorithm,
  webCryptoAlgorithm,
  generateKeyPair,
  algorithmOfKey,
  exportPrivateKeyPem,
  exportPublicKeyPem,
  importPrivateKeyPem,
  importPublicKeyPem,
  jwkThumbprint,
  SignatureAlgorithms,
  type SignatureAlgorithm,
  type KeyPair,
  type ExternalKey,
  type SigningKey,
} from "./keys.js";
export {
  signJws,
  signJwsExternally,
  decodeJws,
  verifyJwsSignature,
  isPlainObject,
  JwsTypes,
  type JwsType,
  type JwsHeader,
  type DecodedJws,
  type ExternalSigner,
} from "./jws.js";
export { x509 } from "./pki/x509.js";
export {
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
} from "./pki/issue.js";
export {
  createCrl,
  crlNumberOf,
  addRevoked,
  revokedToJson,
  revokedFromJson,
  RevocationReasons,
  type RevocationReason,
  type RevokedCertificate,
  type RevokedCertificateJson,
  type CrlOptions,
} from "./pki/crl.js";
export { TrustStore, type ValidatedChain, type TrustStoreOptions, type TrustStoreStats } from "./pki/validate.js";
export { type RevocationPolicy } from "./pki/revocation.js";
export {
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
} from "./pki/pem.js";
export { createDemoPki, type DemoPki, type DemoParty, type DemoPkiOptions } from "./pki/demo.js";
export { subjectAltNameUris } from "./pki/certificate.js";
export { writePkiDir, readPkiDir, PkiFiles } from "./pki/directory.js";
export { roleOfOid, isRole, PEAGE_OID_ARC, Roles, type Role, roleOids, roleHolder } from "./pki/profile.js";
export {
  parser,
  PROTOCOL_VERSION,
  PriceSchema,
  GrantSchema,
  type Grant,
  OfferTermsSchema,
  type OfferTerms,
  type OfferSignatureClaims,
  type CatalogEntry,
  type Catalog,
  OfferSchema,
  type Offer,
  ConsentClaimsSchema,
  type ConsentClaims,
  PaymentRequestSchema,
  type PaymentRequest,
  type CardDebit,
  AcknowledgmentClaimsSchema,
  type AcknowledgmentClaims,
  AcknowledgmentSchema,
  type Acknowledgment,
  type Parser,
} from "./messages/schema.js";
export { signOfferSignature, verifyOfferSignature, type VerifiedOfferSignature } from "./messages/offer-signature.js";
export {
  offerHash,
  signCatalog,
  signCatalogEntry,
  verifyCatalog,
  type OfferDraft,
  type CatalogOptions,
  type VerifiedCatalog,
} from "./messages/catalog.js";
export {
  MAX_SESSION_TICKS,
  meteringProblem,
  newSettlementKey,
  settlementCommitment,
  uptoNonce,
  sessionNonce,
  payWordChain,
  isChainWord,
} from "./messages/metering.js";
export {
  createOffer,
  verifyOffer,
  checkWindow,
  DEFAULT_OFFER_TTL_MS,
  DEFAULT_CLOCK_SKEW_MS,
  type VerifiedOffer,
  type OfferCheckOptions,
} from "./messages/offer.js";
export {
  keyThumbprint,
  consentClaims,
  createPaymentRequest,
  verifyPaymentRequest,
  MAX_CONSENT_TTL_MS,
  DEFAULT_OFFER_DATE_TOLERANCE_MS,
  type PaymentRequestInput,
  type UserKey,
  type PaymentRequestCheckOptions,
  type VerifiedPaymentRequest,
} from "./messages/payment-request.js";
export {
  signAcknowledgment,
  verifyAcknowledgment,
  type AcknowledgmentInput,
  type AcknowledgmentCheckOptions,
  type VerifiedAcknowledgment,
  type VerifiedCardDebit,
} from "./messages/acknowledgment.js";
export {
  signUserRequest,
  USER_AUTH_SCHEME,
  UserRequestClaimsSchema,
  type UserRequestClaims,
  type UserRequestInput,
} from "./messages/user-request.js";
export {
  isProblemCode,
  problem,
  problemFor,
  PaymentCodes,
  type PaymentCode,
  type ProblemCode,
  ProblemSchema,
  type Problem,
  PROBLEM_CONTENT_TYPE,
  type ProblemKind,
  ProblemKinds,
  type ProblemOverrides,
} from "./problem.js";
export {
  MANDATE_VERSION,
  MAX_MANDATE_TTL_MS,
  MandatePeriods,
  type MandatePeriod,
  AgentJwkSchema,
  type AgentJwk,
  MandateClaimsSchema,
  type MandateClaims,
  MandateSchema,
  type Mandate,
  AgentConsentClaimsSchema,
  type AgentConsentClaims,
  MandatePaymentSchema,
  type MandatePayment,
  agentJwkOf,
  importAgentKey,
  type MandateInput,
  createMandate,
  type MandateCheckOptions,
  type VerifiedMandate,
  verifyMandate,
  type AgentPaymentInput,
  createMandatePayment,
  type RegisteredMandate,
  type MandatePaymentCheckOptions,
  type VerifiedMandatePayment,
  verifyMandatePayment,
  mandatePeriodKey,
  mandateExpired,
} from "./messages/mandate.js";
export { convert, rateTable, type RateTable, ratePattern, type Conversion } from "./fx.js";
