import { PeageError } from "./errors.js";
import { currencyExponents } from "./iso4217.js";

declare const currencyBrand: unique symbol;
declare const minorBrand: unique symbol;

/** An active ISO 4217 alphabetic code, e.g. "EUR". Only {@link parseCurrency} makes one. */
export type CurrencyCode = string & { readonly [currencyBrand]: true };

/**
 * An amount in a currency's minor unit (cents for EUR, yen for JPY, fils for BHD): an integer,
 * never a float. Limited to JavaScript's safe integers so JSON carries it exactly.
 */
export type MinorUnits = number & { readonly [minorBrand]: true };

/** A price as the publisher signs it: an amount in minor units and its currency. */
export interface Price {
  readonly amount: MinorUnits;
  readonly currency: CurrencyCode;
}

/** An amount or currency that is not one: not an integer of minor units, not an ISO 4217 code, out of range. */
export class MoneyError extends PeageError<"ERR_MONEY"> {
  override readonly name = "MoneyError";
  constructor(message: string, options?: { readonly cause?: unknown }) {
    super("ERR_MONEY", message, options);
  }
}

export function isCurrencyCode(value: unknown): value is CurrencyCode {
  return typeof value === "string" && currencyExponents.has(value);
}

export function parseCurrency(value: unknown): CurrencyCode {
  if (!isCurrencyCode(value)) throw new MoneyError(`not an active ISO 4217 currency code: ${JSON.stringify(value)}`);
  return value;
}

/** The number of decimal places of the currency's minor unit (ISO 4217). */
export function exponentOf(currency: CurrencyCode): number {
  const exponent = currencyExponents.get(currency);
  if (exponent === undefined) throw new MoneyError(`unknown currency ${currency}`);
  return exponent;
}

export function isMinorUnits(value: unknown): value is MinorUnits {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

export function minorUnits(value: number): MinorUnits {
  if (!isMinorUnits(value)) throw new MoneyError(`an amount must be a non-negative safe integer of minor units, got ${value}`);
  return value;
}

export function price(amount: number, currency: string): Price {
  return { amount: minorUnits(amount), currency: parseCurrency(currency) };
}

export function samePrice(a: Price, b: Price): boolean {
  return a.amount === b.amount && a.currency === b.currency;
}

/**
 * Parses a decimal string ("12.50") into minor units of `currency`, exactly: no floats, and more
 * decimals than the currency has is an error rather than a silent rounding.
 */
export function parseDecimal(text: string, currency: CurrencyCode): MinorUnits {
  const exponent = exponentOf(currency);
  const match = /^(\d{1,20})(?:\.(\d{1,20}))?$/.exec(text.trim());
  if (!match) throw new MoneyError(`not a decimal amount: ${JSON.stringify(text)}`);
  const fraction = match[2] ?? "";
  if (fraction.length > exponent) {
    throw new MoneyError(`${currency} has ${exponent} decimal place(s); ${JSON.stringify(text)} has ${fraction.length}`);
  }
  const value = BigInt(`${match[1]}${fraction.padEnd(exponent, "0")}`);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new MoneyError(`amount ${text} ${currency} is too large`);
  return minorUnits(Number(value));
}

/** Formats minor units as a plain decimal string with the currency's exponent, e.g. "12.50 EUR". */
/** An amount of minor units, of any size and sign (bigint or its decimal string), in major units with the currency: "-35.00 USD". */
export function formatMinorUnits(amount: bigint | string | number, currency: CurrencyCode | string): string {
  const value = BigInt(amount);
  const exponent = exponentOf(currency as CurrencyCode);
  const digits = (value < 0n ? -value : value).toString().padStart(exponent + 1, "0");
  const whole = digits.slice(0, digits.length - exponent);
  const fraction = digits.slice(digits.length - exponent);
  return `${value < 0n ? "-" : ""}${exponent === 0 ? whole : `${whole}.${fraction}`} ${currency}`;
}

export function formatPrice(p: Price): string {
  const exponent = exponentOf(p.currency);
  const digits = p.amount.toString().padStart(exponent + 1, "0");
  const whole = digits.slice(0, digits.length - exponent);
  const fraction = digits.slice(digits.length - exponent);
  return `${exponent === 0 ? whole : `${whole}.${fraction}`} ${p.currency}`;
}
