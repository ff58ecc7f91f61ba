/**
 * Bank files: ISO 20022 credit transfers (pain.001.001.09, SEPA or not) to pay publishers, SEPA
 * Core direct debits (pain.008.001.02) to collect from postpaid users, the identifiers they carry
 * (IBAN, BIC, SEPA creditor identifier, the domestic identifiers of countries without IBAN), and XSD validation with xmllint. See docs/bank-files.md.
 */
export { BankFileError, BankProblemCodes, type BankProblem, type BankProblemCode } from "./errors.js";
export {
  validateIban,
  validateBic,
  validateCreditorId,
  type IbanValidation,
  type BicValidation,
  type CreditorIdValidation,
} from "./identifiers.js";
export {
  parseDomesticAccount,
  clearingRoute,
  describeDomesticAccount,
  abaRoutingProblem,
  DomesticCountries,
  type DomesticAccount,
  type DomesticCountry,
  type AccountProblem,
  type ClearingRoute,
} from "./domestic.js";
export { isSepaCountry, isCountryCode, sepaCountries, ibanLengths } from "./countries.js";
export { toLatin } from "./charset.js";
export { checkBankName, BANK_NAME_LENGTH } from "./names.js";
export { formatAmount, minorToDecimal } from "./amount.js";
export { buildPain001, PAIN_001_NAMESPACE, type CreditTransfer, type CreditTransferBatch } from "./pain001.js";
export { buildPain008, PAIN_008_NAMESPACE, SEQUENCE_TYPE, type DirectDebit, type DirectDebitBatch } from "./pain008.js";
export {
  validateXml,
  iso20022Schemas,
  ISO20022_SCHEMA_FILES,
  DEFAULT_ISO20022_SCHEMA_DIR,
  XmlValidatorError,
  XmlValidatorErrorCodes,
  type XmlValidation,
  type XmlValidatorErrorCode,
  type Iso20022Schemas,
} from "./xsd.js";
