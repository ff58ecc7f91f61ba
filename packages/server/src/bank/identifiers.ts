/**
 * Bank identifiers: IBAN (ISO 13616), BIC (ISO 9362) and the SEPA creditor identifier (EPC262-08).
 * Each validator takes what a person typed (spaces and lower case allowed) and returns the
 * normalised form or a sentence saying what is wrong.
 */
import { describeChar } from "./charset.js";
import { ibanLengths, isCountryCode, isSepaCountry } from "./countries.js";

export type IbanValidation = { ok: true; iban: string; country: string } | { ok: false; reason: string };
export type BicValidation = { ok: true; bic: string; country: string } | { ok: false; reason: string };
export type CreditorIdValidation = { ok: true; creditorId: string; country: string } | { ok: false; reason: string };

/** Removes white space and upper-cases, after checking that only ASCII letters and digits remain. */
function compact(value: string, what: string): { ok: true; value: string } | { ok: false; reason: string } {
  const stripped = value.replace(/\s+/g, "");
  if (stripped.length === 0) return { ok: false, reason: `empty ${what}` };
  const bad = /[^A-Za-z0-9]/u.exec(stripped);
  if (bad) return { ok: false, reason: `${what} contains ${describeChar(bad[0])}; only letters and digits are allowed` };
  return { ok: true, value: stripped.toUpperCase() };
}

/**
 * ISO 7064 MOD 97-10 over letters and digits, letters counting as 10 (A) to 35 (Z), as ISO 13616
 * §6.3 specifies for the IBAN check digits. Computed digit by digit, so no big integers.
 */
export function mod97(text: string): number {
  let remainder = 0;
  for (const char of text) {
    const code = char.charCodeAt(0);
    const value = code >= 65 ? code - 55 : code - 48;
    remainder = (remainder * (value >= 10 ? 100 : 10) + value) % 97;
  }
  return remainder;
}

/**
 * Validates an IBAN: a known country (ISO 13616 registry), that country's length, and the MOD
 * 97-10 check digits (02 to 98; 00, 01 and 99 never occur in a valid IBAN).
 */
export function validateIban(s: string): IbanValidation {
  if (typeof s !== "string") return { ok: false, reason: "an IBAN must be a string" };
  const compacted = compact(s, "IBAN");
  if (!compacted.ok) return compacted;
  const iban = compacted.value;
  if (!/^[A-Z]{2}/.test(iban)) return { ok: false, reason: "an IBAN starts with a two-letter country code" };
  const country = iban.slice(0, 2);
  const length = ibanLengths.get(country);
  if (length === undefined) return { ok: false, reason: `${country} is not a country of the IBAN registry` };
  if (iban.length !== length)
    return { ok: false, reason: `${country} IBANs have ${length} characters, this one has ${iban.length}` };
  const checkDigits = iban.slice(2, 4);
  if (!/^[0-9]{2}$/.test(checkDigits)) return { ok: false, reason: "the IBAN check digits (characters 3 and 4) must be digits" };
  if (checkDigits === "00" || checkDigits === "01" || checkDigits === "99") {
    return { ok: false, reason: `IBAN check digits ${checkDigits} are impossible (valid ones are 02 to 98)` };
  }
  if (mod97(iban.slice(4) + iban.slice(0, 4)) !== 1) return { ok: false, reason: "wrong IBAN check digits (MOD 97-10)" };
  return { ok: true, iban, country };
}

/**
 * Validates a BIC (ISO 9362:2014): 4-character party prefix (letters or digits), 2-letter ISO 3166
 * country code, 2-character location code, and an optional 3-character branch code.
 */
export function validateBic(s: string): BicValidation {
  if (typeof s !== "string") return { ok: false, reason: "a BIC must be a string" };
  const compacted = compact(s, "BIC");
  if (!compacted.ok) return compacted;
  const bic = compacted.value;
  if (bic.length !== 8 && bic.length !== 11)
    return { ok: false, reason: `a BIC has 8 or 11 characters, this one has ${bic.length}` };
  if (!/^[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$/.test(bic)) {
    return {
      ok: false,
      reason:
        "a BIC is a 4-character party prefix, a 2-letter country code, a 2-character location and an optional 3-character branch",
    };
  }
  const country = bic.slice(4, 6);
  if (!isCountryCode(country))
    return { ok: false, reason: `${country} (BIC characters 5 and 6) is not an ISO 3166 country code` };
  return { ok: true, bic, country };
}

/**
 * Validates a SEPA creditor identifier (EPC262-08 §2): country code of a SEPA country, 2 check
 * digits, a 3-character creditor business code (often ZZZ) and the national identifier (up to 28
 * characters). The check digits are MOD 97-10 over the national identifier followed by the
 * country code and the check digits; the business code is left out, so the creditor can change it.
 */
export function validateCreditorId(s: string): CreditorIdValidation {
  if (typeof s !== "string") return { ok: false, reason: "a creditor identifier must be a string" };
  const compacted = compact(s, "creditor identifier");
  if (!compacted.ok) return compacted;
  const creditorId = compacted.value;
  if (creditorId.length < 8 || creditorId.length > 35) {
    return { ok: false, reason: `a creditor identifier has 8 to 35 characters, this one has ${creditorId.length}` };
  }
  if (!/^[A-Z]{2}[0-9]{2}/.test(creditorId)) {
    return { ok: false, reason: "a creditor identifier starts with a two-letter country code and two check digits" };
  }
  const country = creditorId.slice(0, 2);
  if (!isSepaCountry(country)) return { ok: false, reason: `${country} is not a SEPA country` };
  const nationalId = creditorId.slice(7);
  if (mod97(nationalId + creditorId.slice(0, 4)) !== 1)
    return { ok: false, reason: "wrong creditor identifier check digits (MOD 97-10)" };
  return { ok: true, creditorId, country };
}
