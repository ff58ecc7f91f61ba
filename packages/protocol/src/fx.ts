/**
 * Currency conversion, exactly. Rates are decimal strings as the ECB publishes them (units of the
 * currency per 1 EUR); a cross rate between two non-EUR currencies goes through EUR. Amounts
 * stay integers in minor units: the product is computed in BigInt and rounded once, half away
 * from zero ("commercial rounding"), to the target currency's minor unit.
 */
import { exponentOf, minorUnits, parseCurrency, type CurrencyCode, type Price } from "./money.js";

/** A set of reference rates: units of each currency for one unit of `base`, on `date`. */
export interface RateTable {
  readonly base: CurrencyCode;
  /** The day the rates are for, YYYY-MM-DD. */
  readonly date: string;
  readonly rates: Readonly<Record<string, string>>;
}

export const ratePattern = /^\d{1,9}(\.\d{1,12})?$/;

/** A positive decimal as an exact fraction numerator / 10^scale. */
interface Decimal {
  readonly digits: bigint;
  readonly scale: number;
}

function parseRate(text: string): Decimal {
  if (!ratePattern.test(text)) throw new RangeError(`not a rate: ${JSON.stringify(text)}`);
  const [whole = "", fraction = ""] = text.split(".");
  const digits = BigInt(`${whole}${fraction}`);
  if (digits === 0n) throw new RangeError("a rate cannot be zero");
  return { digits, scale: fraction.length };
}

/**
 * Rates lately parsed, by their text: a rate is a pure function of its text, and every payment
 * between two currencies reads the same two rates. Bounded by clearing.
 */
const parsedRates = new Map<string, Decimal>();
const MAX_PARSED_RATES = 1024;

/** Units of `currency` per unit of the table's base. */
function rateOf(table: RateTable, currency: CurrencyCode): Decimal | undefined {
  if (currency === table.base) return { digits: 1n, scale: 0 };
  const text = table.rates[currency];
  if (text === undefined) return undefined;
  let rate = parsedRates.get(text);
  if (rate === undefined) {
    rate = parseRate(text);
    if (parsedRates.size >= MAX_PARSED_RATES) parsedRates.clear();
    parsedRates.set(text, rate);
  }
  return rate;
}

/** Divides and rounds half away from zero (operands are non-negative here). */
function divideRounded(numerator: bigint, denominator: bigint): bigint {
  return (2n * numerator + denominator) / (2n * denominator);
}

export interface Conversion {
  readonly price: Price;
  /** The rate applied, `to` per `from`, as a decimal string with 10 places (for the record). */
  readonly rate: string;
}

/**
 * Converts a price into `to`. Returns undefined when the table has no rate for either currency.
 * The rate recorded is rounded for display; the amount is computed from the exact fraction.
 */
export function convert(amount: Price, to: CurrencyCode, table: RateTable): Conversion | undefined {
  if (amount.currency === to) return { price: amount, rate: "1.0000000000" };
  const from = rateOf(table, amount.currency);
  const target = rateOf(table, to);
  if (!from || !target) return undefined;
  // amount_to = amount_from * 10^(e_to - e_from) * target / from, with each rate = digits / 10^scale.
  const shift = exponentOf(to) - exponentOf(amount.currency);
  let numerator = BigInt(amount.amount) * target.digits * 10n ** BigInt(from.scale);
  let denominator = from.digits * 10n ** BigInt(target.scale);
  if (shift >= 0) numerator *= 10n ** BigInt(shift);
  else denominator *= 10n ** BigInt(-shift);
  const converted = divideRounded(numerator, denominator);
  if (converted > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError("converted amount too large");
  const rateScaled = divideRounded(target.digits * 10n ** BigInt(from.scale + 10), from.digits * 10n ** BigInt(target.scale));
  const rateText = rateScaled.toString().padStart(11, "0");
  return {
    price: { amount: minorUnits(Number(converted)), currency: to },
    rate: `${rateText.slice(0, -10)}.${rateText.slice(-10)}`,
  };
}

/** Builds a table, checking every code and rate. */
export function rateTable(base: string, date: string, rates: Record<string, string>): RateTable {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) throw new RangeError(`not a date: ${date}`);
  const checked: Record<string, string> = {};
  for (const [code, text] of Object.entries(rates)) {
    parseCurrency(code);
    parseRate(text);
    checked[code] = text;
  }
  return { base: parseCurrency(base), date, rates: checked };
}
