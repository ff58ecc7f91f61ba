/** Field checks shared by the pain.001 and pain.008 builders; each throws a FieldProblem naming the field. */
import { isCountryCode, isSepaCountry } from "./countries.js";
import { FieldProblem } from "./errors.js";
import { validateBic, validateIban } from "./identifiers.js";

/** A calendar date written YYYY-MM-DD (ISODate), checked to exist (no 2025-02-30). */
export function isoDate(value: unknown, field: string): string {
  if (typeof value !== "string" || !/^[0-9]{4}-[0-9]{2}-[0-9]{2}$/.test(value)) {
    throw new FieldProblem("ERR_BANK_DATE", field, `${JSON.stringify(value)} is not a date written YYYY-MM-DD`);
  }
  const [y, m, d] = value.split("-").map(Number) as [number, number, number];
  const date = new Date(Date.UTC(y, m - 1, d));
  if (y < 1000 || date.getUTCFullYear() !== y || date.getUTCMonth() !== m - 1 || date.getUTCDate() !== d) {
    throw new FieldProblem("ERR_BANK_DATE", field, `${value} is not a calendar date`);
  }
  return value;
}

/** A creation time as ISODateTime in UTC, to the second: 2025-12-01T09:30:00Z. */
export function isoDateTime(value: unknown, field: string): string {
  if (!(value instanceof Date) || Number.isNaN(value.getTime()))
    throw new FieldProblem("ERR_BANK_DATE", field, "must be a valid Date");
  const text = value.toISOString().replace(/\.[0-9]{3}Z$/, "Z");
  if (!/^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$/.test(text)) {
    throw new FieldProblem("ERR_BANK_DATE", field, `${text} is outside the years 0000 to 9999`);
  }
  return text;
}

/** A normalised IBAN; with `sepa`, its country must be in the SEPA schemes' scope. */
export function iban(value: unknown, field: string, sepa: boolean): string {
  const result = validateIban(value as string);
  if (!result.ok) throw new FieldProblem("ERR_BANK_IBAN", field, result.reason);
  if (sepa && !isSepaCountry(result.country)) {
    throw new FieldProblem("ERR_BANK_SCHEME", field, `${result.country} accounts cannot be reached by a SEPA scheme`);
  }
  return result.iban;
}

export function bic(value: unknown, field: string): string {
  const result = validateBic(value as string);
  if (!result.ok) throw new FieldProblem("ERR_BANK_BIC", field, result.reason);
  return result.bic;
}

export function country(value: unknown, field: string): string {
  if (typeof value !== "string" || !isCountryCode(value)) {
    throw new FieldProblem(
      "ERR_BANK_COUNTRY",
      field,
      `${JSON.stringify(value)} is not an ISO 3166 alpha-2 country code (upper case)`,
    );
  }
  return value;
}
