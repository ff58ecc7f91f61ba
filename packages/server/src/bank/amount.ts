/**
 * Amounts in bank files: ISO 20022 writes an amount as a decimal number of the currency's major
 * unit ("12.50" EUR, "1250" JPY, "1.250" BHD). Péage keeps integer minor units; the conversion
 * here is exact string arithmetic on integers, never floating point.
 */
import { exponentOf, isCurrencyCode, isMinorUnits, type CurrencyCode, type Price } from "@peage/protocol";
import { FieldProblem } from "./errors.js";

/** `minor` (an integer number of 10^-exponent units) as a decimal string with exactly `exponent` decimals. */
export function minorToDecimal(minor: bigint | number, exponent: number): string {
  const value = BigInt(minor);
  if (value < 0n) throw new RangeError("negative amount");
  if (!Number.isInteger(exponent) || exponent < 0) throw new RangeError(`bad exponent ${exponent}`);
  if (exponent === 0) return value.toString();
  const digits = value.toString().padStart(exponent + 1, "0");
  return `${digits.slice(0, digits.length - exponent)}.${digits.slice(digits.length - exponent)}`;
}

/** A price's amount as a decimal string with its currency's ISO 4217 exponent: 1250 EUR → "12.50", 1250 JPY → "1250". */
export function formatAmount(price: Price): string {
  return minorToDecimal(price.amount, exponentOf(price.currency));
}

/** Checks that `price` is a positive safe integer of minor units in an active ISO 4217 currency. */
export function checkPositivePrice(price: unknown, field: string): { amount: bigint; currency: CurrencyCode; exponent: number } {
  if (typeof price !== "object" || price === null)
    throw new FieldProblem("ERR_BANK_AMOUNT", field, "must be a price { amount, currency }");
  const { amount, currency } = price as { amount?: unknown; currency?: unknown };
  if (!isCurrencyCode(currency)) {
    throw new FieldProblem(
      "ERR_BANK_CURRENCY",
      `${field}.currency`,
      `${JSON.stringify(currency)} is not an active ISO 4217 currency code`,
    );
  }
  if (!isMinorUnits(amount)) {
    throw new FieldProblem(
      "ERR_BANK_AMOUNT",
      `${field}.amount`,
      `${String(amount)} is not a non-negative safe integer of minor units`,
    );
  }
  if (amount === 0) throw new FieldProblem("ERR_BANK_AMOUNT", `${field}.amount`, "must be positive");
  return { amount: BigInt(amount), currency, exponent: exponentOf(currency) };
}

/**
 * Digits of a decimal string as written, leading zeros of the whole part aside. At least what
 * XML Schema's totalDigits facet counts (which also ignores trailing fractional zeros), so a
 * value kept within a limit here is within it for any validator.
 */
export function writtenDigits(decimal: string): number {
  const [whole = "", fraction = ""] = decimal.split(".");
  return whole.replace(/^0+/, "").length + fraction.length;
}
